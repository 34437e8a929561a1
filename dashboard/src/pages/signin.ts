// Sign-in: the admin token or a JWT, pasted once and exchanged for a session cookie; SSO when set up.

import { ApiError, sessions, Session } from "../api";
import { h, replace } from "../dom";

export async function renderSignIn(root: HTMLElement, onSignedIn: (s: Session) => void, message?: string): Promise<void> {
  document.title = "Sign in · Reactor Analytics";
  const error = h("p", { className: "error-box", role: "alert", hidden: !message }, message ?? "");
  const input = h("input", {
    name: "token", id: "token", type: "password", autocomplete: "off", spellcheck: false, required: true,
    placeholder: "Admin token or JWT", "aria-describedby": "token-hint",
  });
  const submit = h("button", { type: "submit", className: "btn primary wide" }, "Sign in");
  const sso = h("div", { className: "sso", hidden: true },
    h("div", { className: "or" }, h("span", null, "or")),
    h("a", { className: "btn wide", href: "/dashboard/api/oidc/login", "data-sso": "" }, "Sign in with SSO"));
  const form = h("form", {
    className: "signin-form", "aria-labelledby": "signin-title",
    on: {
      submit: async (e: Event) => {
        e.preventDefault();
        error.hidden = true;
        submit.disabled = true;
        submit.textContent = "Signing in…";
        try {
          const answer = await sessions.signIn(input.value.trim());
          input.value = "";
          onSignedIn(answer.data);
        } catch (err) {
          error.textContent = err instanceof ApiError && err.status === 401
            ? "That token was not accepted." : `Could not sign in: ${(err as Error).message}`;
          error.hidden = false;
          input.focus();
          input.select();
        } finally {
          submit.disabled = false;
          submit.textContent = "Sign in";
        }
      },
    },
  },
    h("label", { htmlFor: "token" }, "Access token"),
    input,
    h("small", { id: "token-hint", className: "hint" },
      "The install's admin token or a JWT. It is exchanged for a session and never stored in the browser."),
    error, submit, sso);
  replace(root, h("main", { className: "signin", id: "main" },
    h("div", { className: "signin-card" },
      h("div", { className: "brand big" }, h("span", { className: "logo", "aria-hidden": "true" }), "Reactor Analytics"),
      h("h1", { id: "signin-title" }, "Sign in"),
      form)));
  input.focus();
  try {
    const config = await sessions.config();
    sso.hidden = !config.data.oidc;
  } catch { /* no SSO */ }
}
