//! The desk's markup, written with maud: every value a page shows is escaped by the `html!`
//! macro itself, and `PreEscaped` is used nowhere here, so no path leaves data unescaped. This
//! file holds the page frame (a skip link, the navigation with the queue's counts, the logout
//! form with its CSRF token), the pieces every page shares (a CSRF form, a time in the store's
//! zone, a JSON detail block) and the one stylesheet.

use axum::{
    http::{header, StatusCode},
    response::{Html, IntoResponse, Response},
};
use maud::{html, Markup, DOCTYPE};

use crate::{
    desk::{
        accounts::{Role, Staff},
        present::Presenter,
    },
    journal::QueueCounts,
};

pub const STYLE: &str = include_str!("desk.css");

/// The signed-in person, their session's CSRF token (for the frame's logout form), the queue's
/// counts for the navigation, and the store's clock and money.
pub struct Viewer<'a> {
    pub staff: &'a Staff,
    pub csrf: &'a str,
    pub counts: QueueCounts,
}

/// A whole page. `current` is the navigation entry to mark (`/admin/handoffs`, …).
pub fn page(title: &str, viewer: Option<&Viewer<'_>>, current: &str, body: Markup) -> Html<String> {
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · shopkeep desk" }
                link rel="stylesheet" href="/admin/desk.css";
            }
            body {
                a.skip href="#main" { "Skip to content" }
                header {
                    strong { "shopkeep desk" }
                    @if let Some(v) = viewer { (nav(v, current)) }
                }
                main id="main" tabindex="-1" { (body) }
            }
        }
    };
    Html(markup.into_string())
}

/// A navigation entry: where, its label, and a count with what it counts.
type NavLink = (&'static str, &'static str, Option<(i64, &'static str)>);

fn nav(v: &Viewer<'_>, current: &str) -> Markup {
    let c = v.counts;
    let mut links: Vec<NavLink> = vec![
        ("/admin/handoffs", "Hand-offs", Some((c.open, "waiting"))),
        (
            "/admin/handoffs?view=mine",
            "Mine",
            Some((c.mine, "claimed by you")),
        ),
        ("/admin/conversations", "Conversations", None),
        ("/admin/actions", "Actions", None),
        ("/admin/replies", "Saved replies", None),
        ("/admin/suggestions", "Suggestions", None),
        ("/admin/metrics", "Metrics", None),
    ];
    if v.staff.role == Role::Admin {
        links.push(("/admin/users", "Users", None));
    }
    html! {
        nav aria-label="Desk" {
            @for (href, label, count) in &links {
                a href=(href) aria-current=[(*href == current).then_some("page")] {
                    (label)
                    @if let Some((n, what)) = count {
                        " " span.count { (n) span.sr { " " (what) } }
                    }
                }
            }
            @if c.overdue > 0 {
                a.overdue href="/admin/handoffs?status=open" { (c.overdue) " overdue" }
            }
        }
        span.muted { (v.staff.email) " (" (v.staff.role.as_str()) ")" }
        (form("/admin/logout", v.csrf, "inline", html! { button.quiet type="submit" { "Log out" } }))
    }
}

/// A POST form carrying the session's CSRF token.
pub fn form(action: &str, csrf: &str, class: &str, inner: Markup) -> Markup {
    html! {
        form method="post" action=(action) class=[(!class.is_empty()).then_some(class)] {
            input type="hidden" name="csrf" value=(csrf);
            (inner)
        }
    }
}

/// A stored time as "12 min ago", with the exact time in the store's zone on hover and the
/// instant in `datetime`; text that is not a time is shown as it is.
pub fn when(p: &Presenter, stored: &str) -> Markup {
    match p.when(stored, jiff::Timestamp::now()) {
        Some(w) => html! { time datetime=(w.iso) title=(w.exact) { (w.relative) } },
        None => html! { (stored) },
    }
}

/// The same for a time the orders store keeps as a value.
pub fn when_ts(p: &Presenter, t: time::OffsetDateTime) -> Markup {
    match jiff::Timestamp::from_second(t.unix_timestamp()) {
        Ok(ts) => {
            let w = p.when_ts(ts, jiff::Timestamp::now());
            html! { time datetime=(w.iso) title=(w.exact) { (w.relative) } }
        }
        Err(_) => html! { "–" },
    }
}

/// JSON shown as-is for people who want the detail (scores, before and after). It can scroll,
/// so it takes focus: keyboard users scroll it with the arrow keys.
pub fn json_block(v: &impl serde::Serialize) -> Markup {
    html! { pre tabindex="0" { (serde_json::to_string_pretty(v).unwrap_or_default()) } }
}

/// An error page with the status it stands for.
pub fn error_page(
    status: StatusCode,
    code: &str,
    message: &str,
    viewer: Option<&Viewer<'_>>,
) -> Response {
    let reason = status.canonical_reason().unwrap_or("Error");
    let body = html! {
        h1 { (reason) }
        p.error data-code=(code) role="alert" { (message) }
        p { a href="/admin/handoffs" { "Back to the hand-offs" } }
    };
    (status, page(reason, viewer, "", body)).into_response()
}

pub async fn stylesheet() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        STYLE,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_carry_the_token_and_values_are_escaped() {
        let f = form("/admin/x?a=1&b=2", "tok\"en", "", html! { button { "Go" } }).into_string();
        assert!(
            f.contains("action=\"/admin/x?a=1&amp;b=2\"")
                && f.contains("value=\"tok&quot;en\"")
                && f.contains("<button>Go</button>"),
            "{f}"
        );
        let p = page("<script>", None, "", html! { p { "<b>" } }).0;
        assert!(
            p.contains("&lt;script&gt; · shopkeep desk")
                && p.contains("<p>&lt;b&gt;</p>")
                && !p.contains("<script>"),
            "{p}"
        );
    }

    #[test]
    fn times_carry_the_instant_and_the_exact_local_time() {
        let p = Presenter::new("Europe/Berlin", "EUR").unwrap();
        let t = when(&p, "2026-01-05T10:00:00.000000Z").into_string();
        assert!(
            t.starts_with(
                "<time datetime=\"2026-01-05T10:00:00Z\" title=\"Mon 5 Jan 2026, 11:00:00 CET\">"
            ),
            "{t}"
        );
        assert_eq!(when(&p, "<x>").into_string(), "&lt;x&gt;");
    }
}
