//! Appending rows streamed out of PostgreSQL with `COPY (…) TO STDOUT` (text format).
//!
//! Every row starts with its `seq`. Events: seq, project_id, event, ts (epoch µs), distinct_id,
//! the hot columns of `table::HOT_COLUMNS`, properties (JSON). Links: seq, project_id,
//! anonymous_id, user_id. Traits: seq, project_id, user_id, traits (JSON).

use std::borrow::Cow;
use std::time::Instant;

use super::table::{Project, Store, HOT_COLUMNS};
use super::tail::{leading_seq, Tail};

pub const EVENT_FIELDS: usize = 5 + HOT_COLUMNS.len() + 1;

#[derive(Debug, PartialEq)]
pub struct LoadError(pub String);

/// One COPY text field: None for `\N`, else the unescaped text.
fn unescape(field: &[u8]) -> Option<Cow<'_, str>> {
    if field == b"\\N" {
        return None;
    }
    if !field.contains(&b'\\') {
        return Some(String::from_utf8_lossy(field));
    }
    let mut out = Vec::with_capacity(field.len());
    let mut i = 0;
    while i < field.len() {
        let b = field[i];
        if b == b'\\' && i + 1 < field.len() {
            i += 1;
            out.push(match field[i] {
                b'n' => b'\n',
                b't' => b'\t',
                b'r' => b'\r',
                b'b' => 8,
                b'f' => 12,
                b'v' => 11,
                other => other,
            });
        } else {
            out.push(b);
        }
        i += 1;
    }
    Some(Cow::Owned(String::from_utf8_lossy(&out).into_owned()))
}

fn rows(data: &[u8]) -> impl Iterator<Item = Vec<&[u8]>> {
    data.split(|&b| b == b'\n')
        .filter(|line| !line.is_empty())
        .map(|line| line.split(|&b| b == b'\t').collect())
}

fn parse_i64(field: &[u8], what: &str) -> Result<i64, LoadError> {
    std::str::from_utf8(field)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| LoadError(format!("bad {what}")))
}

/// A links or traits row: its seq, recorded in `tail`, then three text fields. `None` when one
/// of them is NULL: such a row is seen but not applied.
#[allow(clippy::type_complexity)]
fn seq_and_three<'a>(
    fields: &[&'a [u8]],
    tail: &mut Tail,
    now: Instant,
    what: &str,
) -> Result<Option<(Cow<'a, str>, Cow<'a, str>, Cow<'a, str>)>, LoadError> {
    if fields.len() != 4 {
        return Err(LoadError(format!("{what} need 4 fields")));
    }
    tail.saw(
        leading_seq(fields[0]).ok_or_else(|| LoadError("bad seq".into()))?,
        now,
    );
    Ok(
        match (
            unescape(fields[1]),
            unescape(fields[2]),
            unescape(fields[3]),
        ) {
            (Some(a), Some(b), Some(c)) => Some((a, b, c)),
            _ => None,
        },
    )
}

impl Store {
    /// Append event rows; returns how many were appended.
    pub fn append_events(&mut self, data: &[u8]) -> Result<usize, LoadError> {
        let mut count = 0;
        let now = Instant::now();
        for fields in rows(data) {
            if fields.len() != EVENT_FIELDS {
                return Err(LoadError(format!(
                    "expected {EVENT_FIELDS} fields, got {}",
                    fields.len()
                )));
            }
            let seq = parse_i64(fields[0], "seq")?;
            self.tails.events.saw(seq, now);
            let project_id = unescape(fields[1]).ok_or_else(|| LoadError("null project".into()))?;
            let project = self.projects.entry(project_id.into_owned()).or_default();
            let event = unescape(fields[2]).unwrap_or_default();
            let ts = parse_i64(fields[3], "ts")?;
            let distinct = unescape(fields[4]).unwrap_or_default();
            project.seq.push(seq);
            project.ts.push(ts);
            let event_code = project.strings.intern(&event);
            project.event.push(event_code);
            let distinct_code = project.id_code(&distinct);
            project.distinct.push(distinct_code);
            for (i, field) in fields[5..5 + HOT_COLUMNS.len()].iter().enumerate() {
                let code = match unescape(field) {
                    Some(value) => project.strings.intern(&value),
                    None => 0,
                };
                project.hot[i].push(code);
            }
            let props = unescape(fields[EVENT_FIELDS - 1]).unwrap_or(Cow::Borrowed("{}"));
            project.props.push(props.as_bytes());
            count += 1;
        }
        Ok(count)
    }

    pub fn append_links(&mut self, data: &[u8]) -> Result<usize, LoadError> {
        let mut count = 0;
        let now = Instant::now();
        for fields in rows(data) {
            let Some((p, a, u)) = seq_and_three(&fields, &mut self.tails.links, now, "links")?
            else {
                continue;
            };
            self.projects
                .entry(p.into_owned())
                .or_default()
                .link(&a, &u);
            count += 1;
        }
        Ok(count)
    }

    pub fn set_traits(&mut self, data: &[u8]) -> Result<usize, LoadError> {
        let mut count = 0;
        let now = Instant::now();
        for fields in rows(data) {
            let Some((p, u, t)) = seq_and_three(&fields, &mut self.tails.traits, now, "traits")?
            else {
                continue;
            };
            let project: &mut Project = self.projects.entry(p.into_owned()).or_default();
            let user = project.id_code(&u);
            project.traits.insert(user, t.into_owned());
            project.trait_cache.lock().unwrap().clear();
            count += 1;
        }
        Ok(count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event_line(
        seq: i64,
        project: &str,
        event: &str,
        ts: i64,
        distinct: &str,
        props: &str,
    ) -> String {
        let mut line = format!("{seq}\t{project}\t{event}\t{ts}\t{distinct}");
        for _ in HOT_COLUMNS {
            line.push_str("\t\\N");
        }
        line.push('\t');
        line.push_str(props);
        line.push('\n');
        line
    }

    #[test]
    fn appends_rows_per_project_and_unescapes() {
        let mut store = Store::default();
        let data = event_line(1, "p_a", "signup", 10, "anon\\t1", "{\"plan\": \"pro\"}")
            + &event_line(2, "p_b", "signup", 11, "u_1", "{}");
        assert_eq!(store.append_events(data.as_bytes()).unwrap(), 2);
        let a = &store.projects["p_a"];
        assert_eq!(a.ids.resolve(a.distinct[0]), "anon\t1");
        assert_eq!(a.row_props(0), b"{\"plan\": \"pro\"}");
        assert_eq!(store.projects["p_b"].len(), 1);
    }

    #[test]
    fn links_resolve_persons_retroactively_and_never_merge_users() {
        let mut store = Store::default();
        let data =
            event_line(1, "p", "a", 1, "anon", "{}") + &event_line(2, "p", "b", 2, "u_1", "{}");
        store.append_events(data.as_bytes()).unwrap();
        store
            .append_links(b"1\tp\tanon\tu_1\n2\tp\tanon\tu_2\n3\tp\tu_1\tu_3\n")
            .unwrap();
        let p = &store.projects["p"];
        let person = |row: usize| p.person_of[p.distinct[row] as usize];
        assert_eq!(person(0), person(1));
        assert_eq!(p.ids.resolve(person(0)), "u_1");
    }

    #[test]
    fn an_id_that_is_a_user_is_never_linked_to_another_user_in_any_order() {
        // u_a and u_b each sent an event as user_id (their own rows, anonymous_id = user_id),
        // and an $identify linked u_b to u_a: before, between or after those rows.
        let orders: [&[u8]; 3] = [
            b"1\tp\tu_a\tu_a\n2\tp\tu_b\tu_b\n3\tp\tu_b\tu_a\n",
            b"1\tp\tu_a\tu_a\n2\tp\tu_b\tu_a\n3\tp\tu_b\tu_b\n",
            b"1\tp\tu_b\tu_a\n2\tp\tu_b\tu_b\n3\tp\tx\tu_b\n",
        ];
        for links in orders {
            let mut store = Store::default();
            let data = event_line(1, "p", "view", 1, "u_a", "{}")
                + &event_line(2, "p", "view", 2, "u_b", "{}")
                + &event_line(3, "p", "view", 3, "x", "{}");
            store.append_events(data.as_bytes()).unwrap();
            store.append_links(links).unwrap();
            let p = &store.projects["p"];
            let person = |row: usize| p.ids.resolve(p.person_of[p.distinct[row] as usize]);
            let order = String::from_utf8_lossy(links);
            assert_eq!((person(0), person(1)), ("u_a", "u_b"), "{order}");
        }
        // An anonymous id linked to u_b before u_b's row is read is u_b's, not u_a's.
        let mut store = Store::default();
        store
            .append_events(event_line(1, "p", "view", 1, "x", "{}").as_bytes())
            .unwrap();
        store
            .append_links(b"1\tp\tu_b\tu_a\n2\tp\tx\tu_b\n3\tp\tu_b\tu_b\n")
            .unwrap();
        let p = &store.projects["p"];
        assert_eq!(p.ids.resolve(p.person_of[p.distinct[0] as usize]), "u_b");
    }

    #[test]
    fn wrong_field_count_is_an_error() {
        let mut store = Store::default();
        assert!(store.append_events(b"1\tp\n").is_err());
    }

    #[test]
    fn rows_erased_by_seq_are_dropped() {
        let mut store = Store::default();
        let data = event_line(7, "p", "a", 1, "x", "{}") + &event_line(8, "p", "a", 2, "y", "{}");
        store.append_events(data.as_bytes()).unwrap();
        assert_eq!(store.erase_person("p", &[], &[8, 99]).rows, 1);
        assert_eq!(store.projects["p"].len(), 1);
    }
}
