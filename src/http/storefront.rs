//! `GET /`: the demo storefront, one product page of the store with the chat widget on it, the
//! way a store would embed it (the product id in the tag, so product questions are answered
//! from that product's own content).

use std::sync::Arc;

use axum::{extract::State, response::Html};

use super::ApiError;
use crate::{app::App, money::Currency, orders::Product};

/// The demo store's best seller; any other store shows its first product.
const FEATURED: &str = "linen-shirt";

const PAGE: &str = include_str!("storefront.html");

/// The demo storefront: a product page with the chat widget on it.
#[utoipa::path(
    get,
    path = "/",
    operation_id = "storefront",
    tag = "widget",
    responses((status = 200, description = "The page", content_type = "text/html", body = String))
)]
pub async fn page(State(app): State<Arc<App>>) -> Result<Html<String>, ApiError> {
    let orders = &app.assistant.orders;
    let product = match orders.product(FEATURED)? {
        Some(p) => Some(p),
        None => orders.products()?.into_iter().next(),
    };
    Ok(Html(render(
        &app.config.store.name,
        app.config.store.currency(),
        product.as_ref(),
    )))
}

fn render(store: &str, currency: Currency, product: Option<&Product>) -> String {
    let (name, description, price, options, details, product_id) = match product {
        Some(p) => (
            p.name.clone(),
            p.description.clone(),
            p.price_range_cents().map(|(lo, hi)| if lo == hi { currency.amount(lo) } else { format!("{} – {}", currency.amount(lo), currency.amount(hi)) }).unwrap_or_default(),
            p.options
                .iter()
                .map(|(name, values)| {
                    let id = format!("opt-{}", slug(name));
                    let opts: String = values.iter().map(|v| format!("<option>{}</option>", esc(v))).collect();
                    format!("<p class=\"option\"><label for=\"{id}\">{}</label> <select id=\"{id}\">{opts}</select></p>", esc(name))
                })
                .collect::<String>(),
            p.attributes.iter().map(|(k, v)| format!("<dt>{}</dt><dd>{}</dd>", esc(k), esc(v))).collect::<String>(),
            p.id.clone(),
        ),
        None => ("Our shop".to_string(), String::new(), String::new(), String::new(), String::new(), String::new()),
    };
    let product_attr = if product_id.is_empty() {
        String::new()
    } else {
        format!(" data-product-id=\"{}\"", esc(&product_id))
    };
    PAGE.replace("{{store}}", &esc(store))
        .replace("{{name}}", &esc(&name))
        .replace("{{description}}", &esc(&description))
        .replace("{{price}}", &esc(&price))
        .replace("{{options}}", &options)
        .replace("{{details}}", &details)
        .replace("{{product_attr}}", &product_attr)
}

fn slug(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect()
}

/// Escapes text for HTML element content and double-quoted attributes.
pub(super) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_escapes_store_content_and_tags_the_product() {
        let p = Product {
            id: "p\"1".into(),
            name: "<b>Shirt</b>".into(),
            category: String::new(),
            description: String::new(),
            tags: vec![],
            attributes: Default::default(),
            options: Default::default(),
            variants: vec![],
            url: None,
        };
        let html = render("A & B", Currency::default(), Some(&p));
        assert!(html.contains("A &amp; B") && html.contains("&lt;b&gt;Shirt&lt;/b&gt;"));
        assert!(html.contains("data-product-id=\"p&quot;1\""));
        assert!(html.contains("src=\"/widget.js\""));
    }
}
