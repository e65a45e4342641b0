//! The desk's markup: the page frame (navigation, the logout form with its CSRF token), HTML
//! escaping of everything that comes from data, and the one stylesheet. Every value a page shows
//! goes through [`esc`]; only markup written here is left as is.

use axum::{
    http::{header, StatusCode},
    response::{Html, IntoResponse, Response},
};

pub(super) use super::super::storefront::esc;
use crate::desk::accounts::Staff;

pub const STYLE: &str = include_str!("desk.css");

/// The signed-in person and their session's CSRF token, for the frame's logout form.
pub struct Viewer<'a> {
    pub staff: &'a Staff,
    pub csrf: &'a str,
}

/// A whole page. `current` is the navigation entry to mark (`/admin/handoffs`, …).
pub fn page(title: &str, viewer: Option<&Viewer<'_>>, current: &str, body: &str) -> String {
    let nav = match viewer {
        Some(v) => {
            let mut links = vec![
                ("/admin/handoffs", "Hand-offs"),
                ("/admin/conversations", "Conversations"),
                ("/admin/actions", "Actions"),
                ("/admin/suggestions", "Suggestions"),
                ("/admin/metrics", "Metrics"),
            ];
            if v.staff.role == crate::desk::accounts::Role::Admin {
                links.push(("/admin/users", "Users"));
            }
            let links: String = links
                .iter()
                .map(|(href, label)| {
                    let here = if *href == current {
                        " aria-current=\"page\""
                    } else {
                        ""
                    };
                    format!("<a href=\"{href}\"{here}>{label}</a>")
                })
                .collect();
            format!(
                "<nav>{links}</nav><span class=\"muted\">{} ({})</span>{}",
                esc(&v.staff.email),
                v.staff.role,
                form(
                    "/admin/logout",
                    v.csrf,
                    "",
                    "<button class=\"quiet\" type=\"submit\">Log out</button>"
                ),
            )
        }
        None => String::new(),
    };
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{} · shopkeep desk</title><link rel=\"stylesheet\" href=\"/admin/desk.css\"></head>\
         <body><header><strong>shopkeep desk</strong>{nav}</header><main>{body}</main></body></html>",
        esc(title)
    )
}

/// A POST form carrying the session's CSRF token. `class` and `inner` are markup.
pub fn form(action: &str, csrf: &str, class: &str, inner: &str) -> String {
    let class = if class.is_empty() {
        String::new()
    } else {
        format!(" class=\"{class}\"")
    };
    format!("<form method=\"post\" action=\"{}\"{class}><input type=\"hidden\" name=\"csrf\" value=\"{}\">{inner}</form>", esc(action), esc(csrf))
}

/// JSON shown as-is for people who want the detail (scores, before and after).
pub fn json_block(v: &serde_json::Value) -> String {
    format!(
        "<pre>{}</pre>",
        esc(&serde_json::to_string_pretty(v).unwrap_or_default())
    )
}

/// An error page with the status it stands for.
pub fn error_page(
    status: StatusCode,
    code: &str,
    message: &str,
    viewer: Option<&Viewer<'_>>,
) -> Response {
    let body = format!("<h1>{}</h1><p class=\"error\" data-code=\"{}\">{}</p><p><a href=\"/admin/handoffs\">Back to the hand-offs</a></p>", esc(status.canonical_reason().unwrap_or("Error")), esc(code), esc(message));
    (
        status,
        Html(page(
            status.canonical_reason().unwrap_or("Error"),
            viewer,
            "",
            &body,
        )),
    )
        .into_response()
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
        let f = form("/admin/x?a=1&b=2", "tok\"en", "", "<button>Go</button>");
        assert!(
            f.contains("action=\"/admin/x?a=1&amp;b=2\"")
                && f.contains("value=\"tok&quot;en\"")
                && f.contains("<button>Go</button>")
        );
        let p = page("<script>", None, "", "");
        assert!(p.contains("&lt;script&gt; · shopkeep desk") && !p.contains("<script>"));
    }
}
