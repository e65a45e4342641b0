//! `GET /widget.js`: the chat widget, one self-contained script (its stylesheet inside) that a
//! store adds to any page with one tag. Both files are compiled into the binary: no CDN, no
//! framework, nothing else to host. See the README's "Chat widget".

use std::sync::LazyLock;

use axum::{http::header, response::IntoResponse};

const SCRIPT: &str = include_str!("widget/widget.js");
const STYLE: &str = include_str!("widget/widget.css");

/// The script with the stylesheet put in as a string literal (once, on first request).
static BUNDLE: LazyLock<String> = LazyLock::new(|| {
    SCRIPT.replace(
        "\"__SHOPKEEP_CSS__\"",
        &serde_json::to_string(STYLE).expect("a string serialises"),
    )
});

/// The chat widget's script (its stylesheet inside).
#[utoipa::path(
    get,
    path = "/widget.js",
    operation_id = "widget_script",
    tag = "widget",
    responses((status = 200, description = "The script", content_type = "text/javascript", body = String))
)]
pub async fn script() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            // Short: a new release reaches store pages within minutes.
            (header::CACHE_CONTROL, "public, max-age=300"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        BUNDLE.as_str(),
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_bundle_carries_the_stylesheet() {
        assert!(
            super::SCRIPT.contains("\"__SHOPKEEP_CSS__\""),
            "the placeholder the stylesheet replaces"
        );
        assert!(!super::BUNDLE.contains("__SHOPKEEP_CSS__"));
        assert!(super::BUNDLE.contains(".sk-panel"));
    }
}
