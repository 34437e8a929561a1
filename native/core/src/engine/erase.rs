//! Forgetting rows: GDPR erasure of a person and retention of old rows.
//!
//! Forgotten rows are not just hidden: the project is compacted, so their columns, properties,
//! and any string only they used leave memory. An erased person's ids and traits are dropped too.

use std::collections::HashSet;

use super::cold::{Props, Seqs};
use super::table::{Interner, Project, Store};

#[derive(Debug, Default, PartialEq)]
pub struct Erased {
    pub rows: usize,
    pub ids: usize,
}

impl Store {
    /// Forget a person: every row whose distinct id resolves to the person of any of `ids` (all
    /// their linked ids), the rows `seqs` (deleted from PostgreSQL by the same erasure), their
    /// links and their traits.
    pub fn erase_person(&mut self, project_id: &str, ids: &[&str], seqs: &[i64]) -> Erased {
        let Some(project) = self.projects.get_mut(project_id) else {
            return Erased::default();
        };
        let given: Vec<u32> = ids.iter().filter_map(|id| project.ids.get(id)).collect();
        let persons: HashSet<u32> = given
            .iter()
            .map(|&code| project.person_of[code as usize])
            .collect();
        let mut codes: HashSet<u32> = given.into_iter().collect();
        codes.extend(
            (1..project.person_of.len() as u32)
                .filter(|&code| persons.contains(&project.person_of[code as usize])),
        );
        let seqs: HashSet<i64> = seqs.iter().copied().collect();
        let mut by_seq = HashSet::new();
        if !seqs.is_empty() {
            project.seq.for_each(0..project.len(), |row, seq| {
                if seqs.contains(&seq) {
                    by_seq.insert(row);
                }
            });
        }
        let rows = project.forget_rows(|p, row| codes.contains(&p.distinct[row]) || by_seq.contains(&row));
        for &code in &codes {
            project.person_of[code as usize] = code;
            project.users.remove(&code);
            project.traits.remove(&code);
            project.ids.forget(code);
        }
        project.trait_cache.lock().unwrap().clear();
        project.revision += 1;
        Erased {
            rows,
            ids: codes.len(),
        }
    }

    /// Retention: forget rows older than `cutoff` (epoch µs); returns how many were live.
    pub fn drop_before(&mut self, project_id: &str, cutoff: i64) -> usize {
        let Some(project) = self.projects.get_mut(project_id) else {
            return 0;
        };
        project.forget_rows(|p, row| p.ts[row] < cutoff)
    }

    /// Whether any string the project holds (ids, event names, hot columns, properties, traits)
    /// contains `needle`.
    pub fn mentions(&self, project_id: &str, needle: &str) -> bool {
        let Some(p) = self.projects.get(project_id) else {
            return false;
        };
        let mut in_props = false;
        p.props.for_each(0..p.props.len(), |_, json| {
            in_props = in_props || String::from_utf8_lossy(json).contains(needle);
        });
        p.ids.mentions(needle)
            || p.strings.mentions(needle)
            || in_props
            || p.traits.values().any(|t| t.contains(needle))
            || p.prop_cache
                .lock()
                .unwrap()
                .values()
                .any(|c| c.labels.mentions(needle))
    }
}

impl Project {
    /// Drop the rows `doomed` picks, compacting when any went; returns how many.
    fn forget_rows(&mut self, doomed: impl Fn(&Project, usize) -> bool) -> usize {
        let keep: Vec<usize> = (0..self.len()).filter(|&row| !doomed(self, row)).collect();
        let removed = self.len() - keep.len();
        if removed > 0 {
            self.compact(&keep);
        }
        removed
    }

    /// Rebuild the columns from the rows `keep` only, re-interning the strings they use.
    fn compact(&mut self, keep: &[usize]) {
        let old = std::mem::take(&mut self.strings);
        let mut strings = Interner::new();
        let mut remap = vec![u32::MAX; old.len()];
        remap[0] = 0;
        let mut recode = |code: u32| {
            let slot = &mut remap[code as usize];
            if *slot == u32::MAX {
                *slot = strings.intern(old.resolve(code));
            }
            *slot
        };
        self.event = keep.iter().map(|&row| recode(self.event.get(row))).collect();
        for column in &mut self.hot {
            *column = keep.iter().map(|&row| recode(column.get(row))).collect();
        }
        self.strings = strings;
        let mut seqs = Seqs::new();
        let mut kept = keep.iter().peekable();
        self.seq.for_each(0..self.len(), |row, seq| {
            if kept.next_if_eq(&&row).is_some() {
                seqs.push(seq);
            }
        });
        self.seq = seqs;
        self.ts = keep.iter().map(|&row| self.ts[row]).collect();
        self.distinct = keep.iter().map(|&row| self.distinct[row]).collect();
        let mut props = Props::new();
        let mut kept = keep.iter().peekable();
        self.props.for_each(0..self.props.len(), |row, json| {
            if kept.next_if_eq(&&row).is_some() {
                props.push(json);
            }
        });
        self.props = props;
        self.prop_cache.lock().unwrap().clear();
        self.trait_cache.lock().unwrap().clear();
        self.revision += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::table::HOT_COLUMNS;

    fn event_line(
        seq: i64,
        event: &str,
        ts: i64,
        distinct: &str,
        url: &str,
        props: &str,
    ) -> String {
        let mut line = format!("{seq}\tp\t{event}\t{ts}\t{distinct}\t\\N\t{url}");
        for _ in 2..HOT_COLUMNS.len() {
            line.push_str("\t\\N");
        }
        format!("{line}\t{props}\n")
    }

    fn store() -> Store {
        let mut store = Store::default();
        let data = event_line(
            1,
            "view",
            10,
            "anon_a",
            "https://x/secret-a",
            r#"{"email":"a@x.io"}"#,
        ) + &event_line(2, "signup", 20, "u_42", "https://x/home", "{}")
            + &event_line(3, "view", 30, "anon_b", "https://x/home", r#"{"k":"b"}"#)
            + &event_line(4, "view", 40, "anon_c", "https://x/other", "{}");
        store.append_events(data.as_bytes()).unwrap();
        store.append_links(b"1\tp\tanon_a\tu_42\n").unwrap();
        store
            .set_traits(b"1\tp\tu_42\t{\"name\":\"Ada Secret\"}\n")
            .unwrap();
        store
    }

    #[test]
    fn erasing_a_user_forgets_every_linked_id_row_link_and_trait() {
        let mut store = store();
        store.projects["p"].prop_column("email");
        let erased = store.erase_person("p", &["u_42"], &[]);
        assert_eq!(erased, Erased { rows: 2, ids: 2 });
        let p = &store.projects["p"];
        assert_eq!(p.len(), 2);
        assert_eq!(p.seq.to_vec(), vec![3, 4]);
        for needle in ["u_42", "anon_a", "secret-a", "a@x.io", "Ada Secret"] {
            assert!(!store.mentions("p", needle), "{needle} is still held");
        }
        assert!(store.mentions("p", "anon_b") && store.mentions("p", "https://x/home"));
        assert_eq!(p.row_props(0), br#"{"k":"b"}"#);
        assert_eq!(p.strings.resolve(p.hot[1].get(1)), "https://x/other");
        assert_eq!(p.strings.resolve(p.event.get(0)), "view");
    }

    #[test]
    fn erasing_by_an_anonymous_id_reaches_its_user() {
        let mut store = store();
        assert_eq!(store.erase_person("p", &["anon_a"], &[]).rows, 2);
        assert!(!store.mentions("p", "u_42"));
    }

    #[test]
    fn erasure_is_idempotent_and_new_events_of_the_id_count_again() {
        let mut store = store();
        store.erase_person("p", &["u_42"], &[]);
        assert_eq!(store.erase_person("p", &["u_42"], &[]), Erased::default());
        store
            .append_events(event_line(9, "view", 50, "u_42", "\\N", "{}").as_bytes())
            .unwrap();
        let p = &store.projects["p"];
        assert_eq!(p.ids.resolve(p.distinct[2]), "u_42");
    }

    #[test]
    fn seqs_of_other_ids_are_forgotten_too() {
        let mut store = store();
        assert_eq!(store.erase_person("p", &["nobody"], &[4]).rows, 1);
        assert_eq!(store.projects["p"].seq.to_vec(), vec![1, 2, 3]);
    }

    #[test]
    fn retention_drops_old_rows_and_other_projects_are_untouched() {
        let mut store = store();
        assert_eq!(store.drop_before("p", 25), 2);
        assert_eq!(store.projects["p"].ts, vec![30, 40]);
        assert!(!store.mentions("p", "secret-a"));
        assert_eq!(store.drop_before("missing", 100), 0);
        assert_eq!(store.erase_person("p", &[], &[3]).rows, 1);
        assert_eq!(store.projects["p"].seq.to_vec(), vec![4]);
    }
}
