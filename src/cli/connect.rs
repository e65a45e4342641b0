//! `shopkeep connect medusa|shopify|woocommerce`: checks the configured platform credentials against the
//! platform itself and says exactly what is missing (settings, access scopes, webhooks). It
//! reads nothing into the order store (there is no backfill yet) and registers no webhook: it
//! prints the ones to create, since only the store knows the address shopkeep is reached at.

use std::time::Duration;

use crate::{
    config::{Config, PlatformKind},
    platform::{medusa::Medusa, shopify, Platform, PlatformError},
};

#[derive(clap::Args)]
pub struct Args {
    /// medusa, shopify or woocommerce
    pub platform: String,
}

pub fn run(cfg: Config, args: Args) -> anyhow::Result<()> {
    let kind: PlatformKind = args.platform.parse().map_err(anyhow::Error::msg)?;
    let p = &cfg.platform;
    let mut missing: Vec<String> = Vec::new();
    let (url_hint, key_hint) = match kind {
        PlatformKind::Shopify => (
            "https://your-shop.myshopify.com",
            "the custom app's Admin API access token (shpat_…)",
        ),
        PlatformKind::Medusa => (
            "the Medusa server's address",
            "a secret API key (Settings → Secret API keys)",
        ),
        PlatformKind::WooCommerce => (
            "the store's address (https://shop.example)",
            "the REST API consumer key and secret as ck_…:cs_… (Settings → Advanced → REST API, read/write)",
        ),
        PlatformKind::Embedded => {
            println!("embedded: orders live in shopkeep's own database; nothing to connect");
            return Ok(());
        }
    };
    if !(p.url.starts_with("https://") || p.url.starts_with("http://")) {
        missing.push(format!("platform.url (SHOPKEEP_PLATFORM_URL): {url_hint}"));
    }
    if p.api_key.trim().is_empty() {
        missing.push(format!(
            "platform.api_key (SHOPKEEP_PLATFORM_API_KEY): {key_hint}"
        ));
    }
    if !missing.is_empty() {
        for m in &missing {
            println!("missing: {m}");
        }
        anyhow::bail!("{} setting(s) missing", missing.len());
    }
    let timeout = Duration::from_secs(p.timeout_secs.max(1));
    let mut problems = 0;
    match kind {
        PlatformKind::Shopify => {
            let s = shopify::Shopify::new(&p.url, &p.api_key, &p.api_version, timeout)?;
            let (shop, scopes) = s.connection().map_err(explain)?;
            println!("connected: {shop} (Admin API {})", p.api_version);
            for m in shopify::missing_scopes(&scopes) {
                println!("missing: the access scope {m} (add it to the app's Admin API scopes, then reinstall)");
                problems += 1;
            }
            if !scopes.iter().any(|s| s == shopify::ALL_ORDERS_SCOPE) {
                println!(
                    "note: without {} Shopify's order search sees only the last 60 days of orders",
                    shopify::ALL_ORDERS_SCOPE
                );
            }
            if p.events_secret.is_empty() {
                println!("missing: platform.events_secret (the app's client secret): without it webhooks are refused and orders are re-read only when asked about");
                problems += 1;
            }
            println!(
                "webhooks to subscribe (JSON, to https://<this shopkeep>/v1/platform/events):"
            );
            for t in shopify::WEBHOOK_TOPICS {
                println!("  {t}");
            }
        }
        PlatformKind::Medusa => {
            let m = Medusa::new(&p.url, &p.api_key, timeout)?;
            // Any read shows whether the key is accepted; an order that is not there is fine.
            m.customer_by_email("shopkeep-connect-check@example.invalid")
                .map_err(explain)?;
            println!("connected: Medusa at {}", p.url);
            if p.events_secret.is_empty() {
                println!("missing: platform.events_secret: without it the subscriber's events are refused");
                problems += 1;
            }
            println!("events: copy contrib/medusa/src/subscribers/shopkeep.ts into the Medusa project's src/subscribers/, with SHOPKEEP_EVENTS_URL and SHOPKEEP_EVENTS_SECRET set");
        }
        PlatformKind::WooCommerce => {
            let w = crate::platform::woocommerce::WooCommerce::new(&p.url, &p.api_key, timeout)?;
            w.customer_by_email("shopkeep-connect-check@example.invalid")
                .map_err(explain)?;
            println!("connected: WooCommerce at {}", p.url);
            if p.events_secret.is_empty() {
                println!("missing: platform.events_secret (the webhooks' secret): without it webhooks are refused");
                problems += 1;
            }
            println!("webhooks to create (WooCommerce → Settings → Advanced → Webhooks, API v3, delivery URL https://<this shopkeep>/v1/platform/events, secret = platform.events_secret):");
            for t in ["order.created", "order.updated", "product.updated"] {
                println!("  {t}");
            }
            println!("note: WooCommerce disables a webhook after repeated failed deliveries; check its status there if orders stop updating");
        }
        PlatformKind::Embedded => unreachable!("returned above"),
    }
    if problems > 0 {
        anyhow::bail!("{problems} thing(s) missing");
    }
    println!("ready");
    Ok(())
}

fn explain(e: PlatformError) -> anyhow::Error {
    let hint = match &e {
        PlatformError::Auth { .. } => " (check platform.api_key, and that the app is installed)",
        PlatformError::Unreachable { .. } => " (check platform.url and the network)",
        _ => "",
    };
    anyhow::anyhow!("{e}{hint}")
}
