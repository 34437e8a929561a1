//! The last steps of ingest: per-project checks (project mismatch, opt-out) and encoding the
//! accepted events as COPY text rows (the columns of `columns::EVENT_COLUMNS`, in order), plus
//! identity links and traits.

use std::collections::HashSet;

use crate::copy_text::RowWriter;
use crate::enrich::Event;
use crate::reject::RejectReason;
use crate::time::write_pg_timestamp;
use crate::validate::ParsedRequest;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct EncodedBatch {
    /// COPY text rows, one line per accepted event.
    pub copy_rows: Vec<u8>,
    pub accepted: usize,
    /// (event index, reason), sorted by index.
    pub rejected: Vec<(usize, RejectReason)>,
    /// (anonymous_id, user_id) from accepted `$identify` / `$alias` events.
    pub links: Vec<(String, String)>,
    /// (user_id, traits JSON) from accepted `$identify` events with traits.
    pub traits: Vec<(String, String)>,
    /// The user_ids of accepted events, sorted, each once: these ids are users, never linked
    /// to another user (see `store_links` in `python/reactor_analytics/store/queries.py`).
    pub users: Vec<String>,
}

/// Opted-out anonymous ids; a linear scan for the usual handful, a hash set beyond that.
enum OptedOut<'a> {
    Few(&'a [&'a str]),
    Many(HashSet<&'a str>),
}

impl<'a> OptedOut<'a> {
    fn new(ids: &'a [&'a str]) -> Self {
        if ids.len() <= 8 {
            OptedOut::Few(ids)
        } else {
            OptedOut::Many(ids.iter().copied().collect())
        }
    }

    fn contains(&self, id: &str) -> bool {
        match self {
            OptedOut::Few(ids) => ids.contains(&id),
            OptedOut::Many(set) => set.contains(id),
        }
    }
}

/// Encodes `req` for the project it was authorised for (`project_id`, also known by
/// `project_slug`), dropping events of opted-out anonymous ids.
pub fn encode(
    req: &ParsedRequest,
    project_id: &str,
    project_slug: &str,
    opted_out: &[&str],
) -> EncodedBatch {
    let opted_out = OptedOut::new(opted_out);
    let mut received_at = Vec::with_capacity(32);
    write_pg_timestamp(&mut received_at, req.received_at);

    let mut out = EncodedBatch {
        copy_rows: Vec::with_capacity(req.events.len() * 768),
        ..Default::default()
    };
    for (index, slot) in req.events.iter().enumerate() {
        let checked = slot
            .as_ref()
            .map_err(Clone::clone)
            .and_then(|ev| check_project(ev, project_id, project_slug))
            .and_then(|ev| check_opt_out(ev, &opted_out));
        match checked {
            Ok(ev) => {
                write_row(&mut out.copy_rows, ev, project_id, &received_at);
                out.accepted += 1;
                if let Some(link) = &ev.link {
                    out.links.push(link.clone());
                }
                if let (Some(traits), Some(user_id)) = (&ev.traits, &ev.user_id) {
                    out.traits.push((user_id.clone(), traits.clone()));
                }
                if let Some(user_id) = &ev.user_id {
                    // A batch usually comes from one person: skip the repeat of the last one.
                    if out.users.last() != Some(user_id) {
                        out.users.push(user_id.clone());
                    }
                }
            }
            Err(reason) => out.rejected.push((index, reason)),
        }
    }
    out.users.sort_unstable();
    out.users.dedup();
    out
}

fn check_project<'e>(
    ev: &'e Event,
    project_id: &str,
    project_slug: &str,
) -> Result<&'e Event, RejectReason> {
    match ev.project_id.as_deref() {
        Some(p) if p != project_id && p != project_slug => Err(RejectReason::ProjectMismatch),
        _ => Ok(ev),
    }
}

fn check_opt_out<'e>(ev: &'e Event, opted_out: &OptedOut<'_>) -> Result<&'e Event, RejectReason> {
    match ev.anonymous_id.as_deref() {
        Some(id) if opted_out.contains(id) => Err(RejectReason::OptedOut),
        _ => Ok(ev),
    }
}

/// One COPY row: a field per `columns::EVENT_COLUMNS`, in that order.
fn write_row(buf: &mut Vec<u8>, ev: &Event, project_id: &str, received_at: &[u8]) {
    let mut w = RowWriter::new(buf);
    w.text(Some(project_id))
        .text(Some(&ev.message_id))
        .text(Some(&ev.event))
        .with_raw(|o| write_pg_timestamp(o, ev.ts))
        .with_raw(|o| o.extend_from_slice(received_at))
        .text(ev.distinct_id())
        .text(ev.anonymous_id.as_deref())
        .text(ev.user_id.as_deref())
        .text(ev.session_id.as_deref())
        .text(ev.url.as_deref())
        .text(ev.path.as_deref())
        .text(ev.referrer_host.as_deref())
        .text(ev.utm_source.as_deref())
        .text(ev.utm_medium.as_deref())
        .text(ev.utm_campaign.as_deref())
        .text(ev.utm_term.as_deref())
        .text(ev.utm_content.as_deref())
        .text(ev.browser)
        .text(ev.os)
        .text(ev.device_type)
        .text(ev.country)
        .text(ev.language.as_deref())
        .text(ev.timezone.as_deref())
        .text(ev.ip_prefix.as_deref())
        .text(ev.library.as_deref())
        .text(Some(&ev.properties))
        .text(ev.context.as_deref())
        .finish();
}
