// A few lines instead of a framework: h() builds elements, pages re-render their own sections.

type Child = Node | string | number | null | undefined | false | Child[];
type Attrs = Record<string, unknown> & { on?: Record<string, (e: any) => void> };

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs?: Attrs | null, ...children: Child[]):
  HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  if (attrs) {
    for (const [name, value] of Object.entries(attrs)) {
      if (name === "on") {
        if (!value) continue;
        for (const [event, fn] of Object.entries(value as Record<string, (e: Event) => void>)) el.addEventListener(event, fn);
      } else if (name === "style" && typeof value === "object" && value) {
        for (const [k, v] of Object.entries(value as Record<string, string>)) {
          if (k.startsWith("--")) el.style.setProperty(k, v); else (el.style as any)[k] = v;
        }
      } else if (value === true) {
        el.setAttribute(name, "");
      } else if (value !== false && value != null) {
        if (name in el && !name.includes("-") && name !== "list" && name !== "form") (el as any)[name] = value;
        else el.setAttribute(name, String(value));
      }
    }
  }
  append(el, children);
  return el;
}

export function append(el: Node, children: Child[]): void {
  for (const child of children) {
    if (child == null || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.appendChild(typeof child === "object" ? child : document.createTextNode(String(child)));
  }
}

export function replace(el: Element, ...children: Child[]): void {
  el.textContent = "";
  append(el, children);
}

export function announce(text: string): void {
  const region = document.getElementById("announce");
  if (region) region.textContent = text;
}

let seq = 0;
export function uid(prefix: string): string {
  return `${prefix}-${++seq}`;
}
