//! Step: the "Larkfield Goods" demo store — a deterministic catalogue, customers and order
//! history to try the service on, plus the product documents the index searches.
//!
//! [`seed_demo`] writes 40 customers, 30 products (the store the help pages describe: linen and
//! merino apparel, leather goods, bedding, bath, kitchen, candles, jewellery, clearance and gift
//! cards) with their variants and stock, and 200 orders (LF-100001…LF-100200) spread over the
//! 120 days before `today`, in every [`OrderStatus`]. Everything comes from a small PRNG with a
//! constant seed, so the same `today` always gives the same store; dates are relative to
//! `today`, with "now" being [`demo_now`] (18:00 UTC on `today`). Totals follow the shipping
//! page: Standard $5.95 (free from $75), Express $14.95, Next Day $24.95; no sales tax in
//! Oregon, a flat demo rate per other state.
//!
//! A few records are fixed for tests and the README: the orders in [`DEMO_ORDERS`], and these
//! customers and stock levels:
//!
//! | customer | id | email | postcode |
//! |---|---|---|---|
//! | Maya Chen | `cus_001` | maya.chen@example.com | 97210 (Portland, OR) |
//! | Daniel Okafor | `cus_002` | daniel.okafor@example.com | 98103 (Seattle, WA) |
//! | Sam Rivera | `cus_003` | sam.rivera@example.com | 97214 (Portland, OR) |
//! | Sam Rivera | `cus_004` | sam.rivera.tx@example.com | 78704 (Austin, TX) |
//!
//! Maya has exactly the orders LF-100001 to LF-100004; the two Sam Riveras show why a name needs
//! a postcode. Linen Shirt `LSH-WHITE-L` has 8 in stock and `LSH-SAGE-M` none, so exchanging
//! LF-100002's shirt for White / L can go ahead and for Sage / M cannot.
//!
//! This module does not decide anything about the orders it writes (return windows, what may be
//! cancelled); it only makes data that is coherent with the help pages.

use sha2::{Digest, Sha256};
use time::{Date, Duration, OffsetDateTime, Time, Weekday};

use super::{
    import::ImportSummary, Address, Customer, ExchangeRecord, ExchangeStatus, Fulfilment,
    ItemStatus, Order, OrderError, OrderItem, OrderStatus, OrderStore, Payment, PaymentMethod,
    PaymentMethodKind, Product, Result, ReturnRecord, ReturnStatus, TrackingEvent, TransactionKind,
    Variant, FINAL_SALE_TAG,
};
use crate::kb::{Block, Document};

/// One of the fixed demo orders.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DemoOrder {
    pub number: &'static str,
    pub customer_email: &'static str,
    pub status: OrderStatus,
    pub note: &'static str,
}

/// The fixed demo orders, the same for every `today` (dates move with it):
///
/// | order | customer | status | what it is for |
/// |---|---|---|---|
/// | LF-100001 | maya.chen@example.com | shipped | UPS Ground, tracking 1Z8V2E410300100001, shipped 2 days ago, estimated delivery in 2 days |
/// | LF-100002 | maya.chen@example.com | delivered | delivered 5 days ago (inside the 30-day window); Linen Shirt White / M (returnable) and Gold Hoop Earrings (final sale); paid by PayPal |
/// | LF-100003 | maya.chen@example.com | pending | placed today, not shipped: can be cancelled |
/// | LF-100004 | maya.chen@example.com | delivered | delivered 45 days ago: outside the return window |
/// | LF-100005 | daniel.okafor@example.com | processing | another customer's order: Maya must not see it |
pub const DEMO_ORDERS: &[DemoOrder] = &[
    DemoOrder {
        number: "LF-100001",
        customer_email: "maya.chen@example.com",
        status: OrderStatus::Shipped,
        note: "UPS Ground, tracking 1Z8V2E410300100001, shipped 2 days ago, estimated delivery in 2 days",
    },
    DemoOrder {
        number: "LF-100002",
        customer_email: "maya.chen@example.com",
        status: OrderStatus::Delivered,
        note: "delivered 5 days ago (inside the 30-day window); Linen Shirt White / M and Gold Hoop Earrings (final sale); paid by PayPal",
    },
    DemoOrder {
        number: "LF-100003",
        customer_email: "maya.chen@example.com",
        status: OrderStatus::Pending,
        note: "placed today, not shipped: can be cancelled",
    },
    DemoOrder {
        number: "LF-100004",
        customer_email: "maya.chen@example.com",
        status: OrderStatus::Delivered,
        note: "delivered 45 days ago: outside the return window",
    },
    DemoOrder {
        number: "LF-100005",
        customer_email: "daniel.okafor@example.com",
        status: OrderStatus::Processing,
        note: "another customer's order: Maya must not see it",
    },
];

/// The demo's "now": 18:00 UTC (late morning in Portland) on `today`. Nothing in the demo store
/// happens after it.
pub fn demo_now(today: Date) -> OffsetDateTime {
    today
        .with_time(Time::from_hms(18, 0, 0).unwrap_or(Time::MIDNIGHT))
        .assume_utc()
}

/// How many orders [`seed_demo`] writes.
pub const DEMO_ORDER_COUNT: usize = 200;
const FIRST_NUMBER: u32 = 100_001;
const SEED: u64 = 0x4C41_524B_4649_454C; // "LARKFIEL"

/// Writes the demo store into `store` in one transaction (replacing demo records already there).
pub fn seed_demo(store: &dyn OrderStore, today: Date) -> Result<ImportSummary> {
    check_today(today)?;
    let demo = build(today);
    let summary = ImportSummary {
        customers: demo.customers.len(),
        products: demo.products.len(),
        orders: demo.orders.len(),
    };
    store.write(&mut |w| {
        for c in &demo.customers {
            w.save_customer(c)?;
        }
        for p in &demo.products {
            w.save_product(p)?;
        }
        for o in &demo.orders {
            w.save_order(o)?;
        }
        Ok(())
    })?;
    Ok(summary)
}

/// The demo store's records without writing them anywhere (what [`seed_demo`] saves).
pub fn demo_dataset(today: Date) -> Result<super::Dataset> {
    check_today(today)?;
    let d = build(today);
    Ok(super::Dataset {
        customers: d.customers,
        products: d.products,
        orders: d.orders,
    })
}

/// Keeps every date computation far from `time`'s limits, so none can overflow.
fn check_today(today: Date) -> Result<()> {
    if (2000..=9000).contains(&today.year()) {
        Ok(())
    } else {
        Err(OrderError::Invalid {
            kind: "demo seed date",
            id: today.to_string(),
            message: "year must be between 2000 and 9000".into(),
        })
    }
}

/// The demo store's product pages (each demo product carries its own).
pub const DEMO_PRODUCT_URL: &str = "https://larkfield.example/products/{id}";

/// Every product in the store as a knowledge-base document (description, details, options and
/// prices, care, final-sale note), so questions about a product can be answered from its page.
/// Stock is left out on purpose: it changes hourly, and the store answers it live.
///
/// Each document links to the product's page: the URL the platform gave the product, else
/// `url_template` with `{id}` replaced by the product id (the `store.product_url` setting), else
/// none; a store is never given another store's address.
pub fn product_documents(
    store: &dyn OrderStore,
    url_template: Option<&str>,
    currency: crate::money::Currency,
) -> Result<Vec<Document>> {
    Ok(store
        .products()?
        .iter()
        .map(|p| product_document(p, url_template, currency))
        .collect())
}

/// The product's page: its own URL, else the template's (the id URL-encoded into `{id}`).
pub fn product_url(p: &Product, url_template: Option<&str>) -> Option<String> {
    if let Some(u) = p.url.as_deref().filter(|u| !u.trim().is_empty()) {
        return Some(u.to_string());
    }
    let t = url_template.filter(|t| !t.trim().is_empty())?;
    let mut id = String::new();
    for b in p.id.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            id.push(b as char);
        } else {
            id.push_str(&format!("%{b:02X}"));
        }
    }
    Some(t.replace("{id}", &id))
}

fn product_document(
    p: &Product,
    url_template: Option<&str>,
    currency: crate::money::Currency,
) -> Document {
    let mut blocks = Vec::new();
    let intro = if p.description.trim().is_empty() {
        if p.category.is_empty() || p.category == p.name {
            p.name.clone()
        } else {
            format!("{}, from our {} range.", p.name, p.category)
        }
    } else {
        p.description.clone()
    };
    blocks.push(Block {
        headings: Vec::new(),
        text: intro,
    });

    let mut details: Vec<String> = Vec::new();
    if !p.category.is_empty() && p.category != p.name {
        details.push(format!("Category: {}", p.category));
    }
    details.extend(
        p.attributes
            .iter()
            .filter(|(k, _)| k.as_str() != "Care")
            .map(|(k, v)| format!("{k}: {v}")),
    );
    if !details.is_empty() {
        blocks.push(Block {
            headings: vec!["Details".into()],
            text: details.join("\n"),
        });
    }

    let mut options: Vec<String> = p
        .options
        .iter()
        .map(|(name, values)| format!("{name}: {}.", values.join(", ")))
        .collect();
    match p.price_range_cents() {
        Some((lo, hi)) if lo == hi => options.push(format!("Price: {}.", currency.amount(lo))),
        Some((lo, hi)) => options.push(format!(
            "Price: {} to {}, depending on the option.",
            currency.amount(lo),
            currency.amount(hi)
        )),
        None => {}
    }
    if !options.is_empty() {
        blocks.push(Block {
            headings: vec!["Options and prices".into()],
            text: options.join("\n"),
        });
    }
    if let Some(care) = p.attributes.get("Care") {
        blocks.push(Block {
            headings: vec!["Care".into()],
            text: care.clone(),
        });
    }
    if p.is_final_sale() {
        blocks.push(Block {
            headings: vec!["Returns".into()],
            text: format!("{} is final sale: it cannot be returned or exchanged. It is still covered if it arrives damaged, defective or wrong.", p.name),
        });
    }

    let url = product_url(p, url_template);
    let mut hasher = Sha256::new();
    hasher.update(p.name.as_bytes());
    // The link is part of what a citation shows: a new `store.product_url` re-indexes.
    hasher.update([0]);
    hasher.update(url.as_deref().unwrap_or_default().as_bytes());
    for b in &blocks {
        hasher.update([0]);
        hasher.update(b.headings.join("\u{1f}").as_bytes());
        hasher.update([0]);
        hasher.update(b.text.as_bytes());
    }
    Document {
        id: format!("product-{}", p.id),
        title: p.name.clone(),
        url,
        topics: vec!["product_question".into()],
        updated: None,
        product_id: Some(p.id.clone()),
        source: format!("products/{}", p.id),
        blocks,
        hash: hex::encode(hasher.finalize()),
    }
}

/// SplitMix64: tiny, fast, and the same on every platform — all the demo needs.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// 0..n (0 when n is 0).
    fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next() % n
        }
    }
    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + self.below((hi - lo + 1).max(1) as u64) as i64
    }
    fn percent(&mut self) -> u64 {
        self.below(100)
    }
    fn pick<'a, T>(&mut self, xs: &'a [T]) -> Option<&'a T> {
        xs.get(self.below(xs.len() as u64) as usize)
    }
}

struct Demo {
    customers: Vec<Customer>,
    products: Vec<Product>,
    orders: Vec<Order>,
}

fn build(today: Date) -> Demo {
    let mut rng = Rng(SEED);
    let products = catalogue(&mut rng);
    let mut customers = customers(&mut rng);
    let mut orders = fixed_orders(today, &products);
    let mut ctx = Ctx {
        today,
        now: demo_now(today),
        products: &products,
        rma: 300_001,
    };
    generated_orders(&mut rng, &mut ctx, &mut customers, &mut orders);
    Demo {
        customers,
        products,
        orders,
    }
}

// ---------------------------------------------------------------------------------------------
// Catalogue

struct Spec {
    id: &'static str,
    code: &'static str,
    name: &'static str,
    category: &'static str,
    description: &'static str,
    tags: &'static [&'static str],
    attributes: &'static [(&'static str, &'static str)],
    /// Option name → values; the variants are every combination, in this order.
    options: &'static [(&'static str, &'static [&'static str])],
    price_cents: i64,
    /// A variant with one of these option values costs this instead.
    prices: &'static [(&'static str, i64)],
    /// Variants with one of these values are no longer sold.
    discontinued: &'static [&'static str],
}

const WOMENS: &[&str] = &["XS", "S", "M", "L", "XL", "XXL"];
const MENS: &[&str] = &["S", "M", "L", "XL", "XXL"];
const SHOES: &[&str] = &["US 6", "US 7", "US 8", "US 9", "US 10", "US 11", "US 12"];
const BED: &[&str] = &["Twin", "Full", "Queen", "King", "Cal King"];

const CARE_LINEN: &str = "Wash cold (30°C / 86°F or below) on a gentle cycle with similar colours, and line dry. Iron while slightly damp for a crisp look. Avoid bleach and fabric softener. Linen softens with every wash.";
const CARE_MERINO: &str = "Hand wash in cool water with a wool detergent or use a wool cycle. Do not wring; roll in a towel and dry flat away from heat. Never tumble dry. Fold rather than hang.";
const CARE_COTTON: &str = "Machine wash warm (up to 40°C / 104°F) with a mild detergent. Tumble dry low or line dry. Avoid bleach.";
const CARE_LEATHER: &str = "Wipe clean with a soft, dry or slightly damp cloth. Condition every few months. If it gets wet, blot and let it dry naturally away from radiators, stuffed with paper to hold its shape.";
const CARE_STONEWARE: &str = "Dishwasher and microwave safe. Not oven safe. Avoid sudden temperature changes, and don't use a piece that is cracked.";
const CARE_CANDLE: &str = "Trim the wick to 1/4 inch before each burn. Burn for 2–3 hours the first time, until the melted wax reaches the edges. Never leave a burning candle unattended.";
const CARE_SWIM: &str = "Rinse in cool fresh water after swimming. Hand wash, and dry flat in the shade. Keep the hygiene liner in place when trying on: swimwear can only be returned with it attached.";

const CATALOGUE: &[Spec] = &[
    Spec {
        id: "linen-shirt",
        code: "LSH",
        name: "Linen Shirt",
        category: "Shirts",
        description: "Our best-selling shirt in breathable, stonewashed European linen, with a relaxed cut, a classic collar and mother-of-pearl buttons. It gets softer with every wash.",
        tags: &["linen", "summer"],
        attributes: &[("Material", "100% European linen"), ("Fit", "Relaxed"), ("Care", CARE_LINEN)],
        options: &[("Colour", &["White", "Sand", "Sage", "Navy"]), ("Size", WOMENS)],
        price_cents: 6800,
        prices: &[],
        discontinued: &[],
    },
    Spec {
        id: "merino-crew-sweater",
        code: "MCS",
        name: "Merino Crew Sweater",
        category: "Knitwear",
        description: "A fine-gauge crew neck in extra-fine merino wool: soft next to the skin, warm without bulk and naturally odour-resistant. Ribbed cuffs and hem.",
        tags: &["merino", "knitwear"],
        attributes: &[("Material", "100% extra-fine merino wool, 18.5 micron"), ("Fit", "Regular"), ("Care", CARE_MERINO)],
        options: &[("Colour", &["Oatmeal", "Charcoal", "Forest"]), ("Size", WOMENS)],
        price_cents: 11000,
        prices: &[],
        discontinued: &[],
    },
    Spec {
        id: "chore-jacket",
        code: "CHJ",
        name: "Canvas Chore Jacket",
        category: "Outerwear",
        description: "A workwear-inspired jacket in heavyweight organic cotton canvas, with three patch pockets, corozo buttons and a boxy cut that layers over knitwear.",
        tags: &["outerwear"],
        attributes: &[("Material", "100% organic cotton canvas, 12 oz"), ("Fit", "Relaxed"), ("Care", CARE_COTTON)],
        options: &[("Colour", &["Tobacco", "Navy", "Olive"]), ("Size", MENS)],
        price_cents: 14800,
        prices: &[],
        discontinued: &[],
    },
    Spec {
        id: "wide-leg-trousers",
        code: "WLT",
        name: "Linen Wide-Leg Trousers",
        category: "Trousers",
        description: "High-waisted wide-leg trousers in midweight linen with an elasticated back waist, side pockets and a full-length leg.",
        tags: &["linen", "summer"],
        attributes: &[("Material", "100% European linen"), ("Fit", "Relaxed"), ("Inside leg", "31 in (79 cm) in size M"), ("Care", CARE_LINEN)],
        options: &[("Colour", &["Natural", "Black", "Terracotta"]), ("Size", &["XS", "S", "M", "L", "XL"])],
        price_cents: 8800,
        prices: &[],
        discontinued: &[],
    },
    Spec {
        id: "leather-sneakers",
        code: "SNK",
        name: "Leather Court Sneakers",
        category: "Shoes",
        description: "Minimal court sneakers in full-grain leather on a stitched natural-rubber cupsole, with a cushioned cork footbed. Sold in US sizes.",
        tags: &["shoes", "leather"],
        attributes: &[("Material", "Full-grain leather upper, leather lining, natural rubber sole"), ("Fit", "True to size; half sizes should size up"), ("Care", CARE_LEATHER)],
        options: &[("Colour", &["White", "Black"]), ("Size", SHOES)],
        price_cents: 12500,
        prices: &[],
        discontinued: &[],
    },
    Spec {
        id: "organic-cotton-tee",
        code: "TEE",
        name: "Organic Cotton Tee",
        category: "Tops",
        description: "An everyday crew-neck T-shirt in soft, midweight organic cotton jersey that holds its shape wash after wash.",
        tags: &["basics"],
        attributes: &[("Material", "100% organic cotton jersey, 180 gsm"), ("Fit", "Regular"), ("Care", CARE_COTTON)],
        options: &[("Colour", &["White", "Black", "Heather Grey", "Clay"]), ("Size", WOMENS)],
        price_cents: 3200,
        prices: &[],
        discontinued: &["Clay"],
    },
    Spec {
        id: "scoop-back-swimsuit",
        code: "SWS",
        name: "Scoop-Back Swimsuit",
        category: "Swimwear",
        description: "A one-piece swimsuit with a low scoop back and fully lined front, in a recycled nylon fabric that resists chlorine and sun cream.",
        tags: &["swimwear", "summer"],
        attributes: &[("Material", "78% recycled nylon, 22% elastane"), ("Fit", "Slim; between sizes, size up"), ("Care", CARE_SWIM)],
        options: &[("Colour", &["Black", "Marine"]), ("Size", &["XS", "S", "M", "L", "XL"])],
        price_cents: 7800,
        prices: &[],
        discontinued: &[],
    },
    Spec {
        id: "swim-trunks",
        code: "SWT",
        name: "Recycled Swim Trunks",
        category: "Swimwear",
        description: "Quick-dry swim trunks with a 6-inch inseam, mesh lining, drawstring waist and a zipped back pocket.",
        tags: &["swimwear", "summer"],
        attributes: &[("Material", "100% recycled polyester"), ("Fit", "Regular"), ("Inseam", "6 in (15 cm)"), ("Care", CARE_SWIM)],
        options: &[("Colour", &["Navy", "Sand"]), ("Size", MENS)],
        price_cents: 5800,
        prices: &[],
        discontinued: &[],
    },
    Spec {
        id: "gold-hoop-earrings",
        code: "EAR",
        name: "Gold Hoop Earrings",
        category: "Jewellery",
        description: "Everyday 20 mm hoops with a hinged closure, light enough to wear all day. Earrings are final sale for hygiene reasons.",
        tags: &["jewellery", FINAL_SALE_TAG],
        attributes: &[("Material", "18k gold vermeil or sterling silver over a sterling silver core"), ("Size", "20 mm diameter")],
        options: &[("Finish", &["Gold vermeil", "Sterling silver"])],
        price_cents: 6400,
        prices: &[("Sterling silver", 5400)],
        discontinued: &[],
    },
    Spec {
        id: "pearl-drop-earrings",
        code: "PDE",
        name: "Pearl Drop Earrings",
        category: "Jewellery",
        description: "Freshwater pearl drops on fine hooks: a small, luminous finish for any outfit. Earrings are final sale for hygiene reasons.",
        tags: &["jewellery", FINAL_SALE_TAG],
        attributes: &[("Material", "Freshwater pearls, 14k gold-filled hooks")],
        options: &[("Finish", &["Gold-filled"])],
        price_cents: 7200,
        prices: &[],
        discontinued: &[],
    },
    Spec {
        id: "monogrammed-robe",
        code: "ROB",
        name: "Monogrammed Waffle Robe",
        category: "Loungewear",
        description: "A lightweight waffle-weave cotton robe with deep pockets and a tie waist, embroidered with up to three initials. Monogrammed items are made for you and are final sale.",
        tags: &["loungewear", "monogrammed", FINAL_SALE_TAG],
        attributes: &[("Material", "100% cotton waffle weave"), ("Fit", "Relaxed, knee length"), ("Care", CARE_COTTON)],
        options: &[("Colour", &["White", "Stone"]), ("Size", &["S/M", "L/XL"])],
        price_cents: 9800,
        prices: &[],
        discontinued: &[],
    },
    Spec {
        id: "cashmere-beanie",
        code: "BEA",
        name: "Cashmere Beanie",
        category: "Accessories",
        description: "A ribbed beanie knitted from pure Mongolian cashmere, with a turn-back cuff. One size fits most.",
        tags: &["accessories", "knitwear"],
        attributes: &[("Material", "100% cashmere"), ("Care", CARE_MERINO)],
        options: &[("Colour", &["Camel", "Charcoal", "Ivory"])],
        price_cents: 5800,
        prices: &[],
        discontinued: &[],
    },
    Spec {
        id: "lambswool-scarf",
        code: "SCF",
        name: "Lambswool Scarf (Clearance)",
        category: "Accessories",
        description: "A brushed lambswool scarf with fringed ends, reduced from $60. Clearance items are final sale.",
        tags: &["accessories", "clearance", FINAL_SALE_TAG],
        attributes: &[("Material", "100% lambswool"), ("Size", "180 × 30 cm"), ("Care", CARE_MERINO)],
        options: &[("Colour", &["Grey Check", "Camel", "Navy"])],
        price_cents: 3600,
        prices: &[],
        discontinued: &[],
    },
    Spec {
        id: "denim-jacket",
        code: "DNJ",
        name: "Rigid Denim Jacket (Clearance)",
        category: "Outerwear",
        description: "A classic trucker jacket in rigid Japanese selvedge denim, reduced from $128. Clearance items are final sale.",
        tags: &["outerwear", "clearance", FINAL_SALE_TAG],
        attributes: &[("Material", "100% cotton selvedge denim, 13.5 oz"), ("Fit", "Regular"), ("Care", "Wash rarely, inside out and cold; line dry.")],
        options: &[("Size", MENS)],
        price_cents: 5900,
        prices: &[],
        discontinued: &[],
    },
    Spec {
        id: "canvas-tote",
        code: "TOT",
        name: "Canvas Tote",
        category: "Bags",
        description: "A sturdy everyday tote in heavyweight cotton canvas with leather handles, an inside zip pocket and a flat base.",
        tags: &["bags"],
        attributes: &[("Material", "Organic cotton canvas, vegetable-tanned leather handles"), ("Dimensions", "16 × 14 × 5 in (41 × 36 × 13 cm)"), ("Care", "Spot clean with a damp cloth.")],
        options: &[("Colour", &["Natural", "Black"])],
        price_cents: 3800,
        prices: &[],
        discontinued: &[],
    },
    Spec {
        id: "leather-weekender",
        code: "WKD",
        name: "Leather Weekender Bag",
        category: "Bags",
        description: "A generous weekend bag in full-grain leather that develops a rich patina, with a detachable shoulder strap, brass hardware and a separate shoe compartment. Covered by our lifetime repair programme.",
        tags: &["bags", "leather"],
        attributes: &[("Material", "Full-grain leather, cotton twill lining, solid brass hardware"), ("Dimensions", "21 × 11 × 10 in (53 × 28 × 25 cm), 40 L"), ("Care", CARE_LEATHER)],
        options: &[("Colour", &["Cognac", "Black"])],
        price_cents: 39500,
        prices: &[],
        discontinued: &[],
    },
    Spec {
        id: "leather-card-holder",
        code: "CRD",
        name: "Leather Card Holder",
        category: "Accessories",
        description: "A slim card holder with four card slots and a central pocket, cut from the same full-grain leather as our bags.",
        tags: &["accessories", "leather"],
        attributes: &[("Material", "Full-grain leather"), ("Dimensions", "4 × 3 in (10 × 7.5 cm)"), ("Care", CARE_LEATHER)],
        options: &[("Colour", &["Cognac", "Black", "Forest"])],
        price_cents: 4500,
        prices: &[],
        discontinued: &[],
    },
    Spec {
        id: "percale-sheet-set",
        code: "PSS",
        name: "Percale Sheet Set",
        category: "Bedding",
        description: "Crisp, cool long-staple cotton percale in a one-over-one-under weave, ideal for warm sleepers. The set includes a flat sheet, a fitted sheet with 16-inch pockets and two pillowcases (one for Twin).",
        tags: &["bedding", "cotton"],
        attributes: &[("Material", "100% long-staple cotton percale, 300 thread count"), ("Care", CARE_COTTON)],
        options: &[("Size", BED), ("Colour", &["White", "Ivory", "Slate"])],
        price_cents: 14800,
        prices: &[("Twin", 12800), ("Full", 13800), ("King", 16800), ("Cal King", 16800)],
        discontinued: &[],
    },
    Spec {
        id: "sateen-duvet-cover",
        code: "SDC",
        name: "Sateen Duvet Cover",
        category: "Bedding",
        description: "A silky, softly lustrous duvet cover in cotton sateen with a hidden button closure and corner ties. Shams sold separately.",
        tags: &["bedding", "cotton"],
        attributes: &[("Material", "100% long-staple cotton sateen, 400 thread count"), ("Care", "Wash inside out in warm water; tumble dry low. Avoid bleach.")],
        options: &[("Size", &["Full/Queen", "King/Cal King"]), ("Colour", &["White", "Dove Grey", "Midnight"])],
        price_cents: 16800,
        prices: &[("King/Cal King", 18800)],
        discontinued: &[],
    },
    Spec {
        id: "linen-sheet-set",
        code: "LSS",
        name: "Stonewashed Linen Sheet Set",
        category: "Bedding",
        description: "Relaxed, breathable sheets in stonewashed European flax linen, soft from the first night. Flat sheet, fitted sheet and two pillowcases.",
        tags: &["bedding", "linen"],
        attributes: &[("Material", "100% European flax linen"), ("Care", CARE_LINEN)],
        options: &[("Size", &["Queen", "King"]), ("Colour", &["Natural", "White", "Terracotta", "Sage"])],
        price_cents: 24800,
        prices: &[("King", 27800)],
        discontinued: &[],
    },
    Spec {
        id: "waffle-bath-towels",
        code: "WBT",
        name: "Waffle Bath Towels",
        category: "Bath",
        description: "Lightweight Turkish cotton towels in a deep waffle weave that dries quickly and gets more absorbent with washing. Sold in pairs.",
        tags: &["bath", "cotton"],
        attributes: &[("Material", "100% Turkish cotton"), ("Care", CARE_COTTON)],
        options: &[("Set", &["Hand towel pair", "Bath towel pair", "Bath sheet pair"]), ("Colour", &["White", "Sage", "Clay"])],
        price_cents: 4800,
        prices: &[("Hand towel pair", 2800), ("Bath sheet pair", 6800)],
        discontinued: &[],
    },
    Spec {
        id: "linen-napkins",
        code: "NAP",
        name: "Linen Napkins, Set of 4",
        category: "Kitchen & Dining",
        description: "Generous 20-inch dinner napkins in washed linen with mitred corners.",
        tags: &["kitchen", "linen"],
        attributes: &[("Material", "100% linen"), ("Size", "20 × 20 in (50 × 50 cm)"), ("Care", CARE_LINEN)],
        options: &[("Colour", &["Natural", "White", "Olive", "Rust"])],
        price_cents: 3600,
        prices: &[],
        discontinued: &[],
    },
    Spec {
        id: "stoneware-mug-set",
        code: "MUG",
        name: "Stoneware Mug Set of 4",
        category: "Kitchen & Dining",
        description: "Four hand-glazed 12 oz stoneware mugs with a comfortable handle. Each glaze varies slightly: that's part of their character.",
        tags: &["kitchen", "stoneware"],
        attributes: &[("Material", "Stoneware"), ("Capacity", "12 oz (350 ml) each"), ("Care", CARE_STONEWARE)],
        options: &[("Glaze", &["Speckled White", "Ink Blue", "Moss"])],
        price_cents: 5600,
        prices: &[],
        discontinued: &[],
    },
    Spec {
        id: "stoneware-dinner-plates",
        code: "PLT",
        name: "Stoneware Dinner Plates, Set of 4",
        category: "Kitchen & Dining",
        description: "Four 10.5-inch dinner plates with a soft matte glaze and a raw stoneware rim.",
        tags: &["kitchen", "stoneware"],
        attributes: &[("Material", "Stoneware"), ("Size", "10.5 in (27 cm) diameter"), ("Care", CARE_STONEWARE)],
        options: &[("Glaze", &["Speckled White", "Moss"])],
        price_cents: 7200,
        prices: &[],
        discontinued: &[],
    },
    Spec {
        id: "cedar-smoke-candle",
        code: "CSC",
        name: "Soy Candle, Cedar & Smoke",
        category: "Candles",
        description: "Our signature scent: cedarwood, vetiver and a wisp of campfire smoke, hand-poured in soy wax with a cotton wick in an amber glass jar. Burned candles can't be returned.",
        tags: &["candles", "home-fragrance"],
        attributes: &[("Material", "Soy wax, cotton wick, amber glass"), ("Burn time", "About 50 hours (8 oz) or 80 hours (14 oz)"), ("Care", CARE_CANDLE)],
        options: &[("Size", &["8 oz", "14 oz"])],
        price_cents: 2800,
        prices: &[("14 oz", 4200)],
        discontinued: &[],
    },
    Spec {
        id: "fig-leaf-candle",
        code: "FLC",
        name: "Soy Candle, Fig Leaf",
        category: "Candles",
        description: "Green fig, leaves and a little coconut, hand-poured in soy wax in an amber glass jar. Burned candles can't be returned.",
        tags: &["candles", "home-fragrance"],
        attributes: &[("Material", "Soy wax, cotton wick, amber glass"), ("Burn time", "About 50 hours (8 oz) or 80 hours (14 oz)"), ("Care", CARE_CANDLE)],
        options: &[("Size", &["8 oz", "14 oz"])],
        price_cents: 2800,
        prices: &[("14 oz", 4200)],
        discontinued: &[],
    },
    Spec {
        id: "merino-wool-throw",
        code: "THR",
        name: "Merino Wool Throw",
        category: "Living",
        description: "A warm, lightweight throw woven from merino wool with whipstitched edges, sized for a sofa or the end of a bed.",
        tags: &["living", "merino"],
        attributes: &[("Material", "100% merino wool"), ("Dimensions", "50 × 70 in (127 × 178 cm)"), ("Care", "Dry clean, or hand wash cold and dry flat. Air between uses.")],
        options: &[("Colour", &["Oat", "Charcoal", "Rust"])],
        price_cents: 15800,
        prices: &[],
        discontinued: &[],
    },
    Spec {
        id: "linen-cushion-cover",
        code: "CUS",
        name: "Linen Cushion Cover",
        category: "Living",
        description: "A washed-linen cushion cover with a hidden zip. Insert sold separately.",
        tags: &["living", "linen"],
        attributes: &[("Material", "100% linen"), ("Care", CARE_LINEN)],
        options: &[("Size", &["18 × 18 in", "20 × 20 in"]), ("Colour", &["Natural", "Sage", "Rust"])],
        price_cents: 4200,
        prices: &[("20 × 20 in", 4800)],
        discontinued: &[],
    },
    Spec {
        id: "linen-table-runner",
        code: "RUN",
        name: "Linen Table Runner (Clearance)",
        category: "Kitchen & Dining",
        description: "A washed-linen table runner with fringed ends, reduced from $38. Clearance items are final sale.",
        tags: &["kitchen", "linen", "clearance", FINAL_SALE_TAG],
        attributes: &[("Material", "100% linen"), ("Size", "16 × 90 in (40 × 228 cm)"), ("Care", CARE_LINEN)],
        options: &[("Colour", &["Natural", "Charcoal"])],
        price_cents: 1800,
        prices: &[],
        discontinued: &[],
    },
    Spec {
        id: "gift-card",
        code: "GFT",
        name: "Larkfield Gift Card",
        category: "Gift Cards",
        description: "A digital gift card delivered by email on the date you choose, with your message. Larkfield gift cards never expire, have no fees and can be used on anything in the store. Gift cards are final sale.",
        tags: &["gift-card", FINAL_SALE_TAG],
        attributes: &[("Delivery", "By email, on the date you choose")],
        options: &[("Amount", &["$25", "$50", "$100", "$200"])],
        price_cents: 2500,
        prices: &[("$50", 5000), ("$100", 10000), ("$200", 20000)],
        discontinued: &[],
    },
];

/// Stock levels the docs promise, whatever the PRNG says.
const FIXED_STOCK: &[(&str, i64)] = &[
    ("LSH-WHITE-M", 3),
    ("LSH-WHITE-L", 8),
    ("LSH-SAGE-M", 0),
    ("SNK-WHITE-US10", 6),
    ("MCS-OATMEAL-M", 11),
];

/// "Heather Grey" → "HEATHERGREY": the variant-id part for an option value.
fn id_part(value: &str) -> String {
    value
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

fn catalogue(rng: &mut Rng) -> Vec<Product> {
    CATALOGUE
        .iter()
        .map(|spec| {
            // Every combination of option values, first option outermost.
            let mut combos: Vec<Vec<(&str, &str)>> = vec![Vec::new()];
            for (name, values) in spec.options {
                combos = combos
                    .iter()
                    .flat_map(|c| {
                        values
                            .iter()
                            .map(move |v| [c.clone(), vec![(*name, *v)]].concat())
                    })
                    .collect();
            }
            let variants = combos
                .into_iter()
                .map(|combo| {
                    let item_id = std::iter::once(spec.code.to_string())
                        .chain(combo.iter().map(|(_, v)| id_part(v)))
                        .collect::<Vec<_>>()
                        .join("-");
                    let price_cents = combo
                        .iter()
                        .find_map(|(_, v)| {
                            spec.prices.iter().find(|(pv, _)| pv == v).map(|(_, p)| *p)
                        })
                        .unwrap_or(spec.price_cents);
                    let roll = rng.percent();
                    let drawn = if roll < 12 {
                        0
                    } else if roll < 30 {
                        rng.range(1, 4)
                    } else {
                        rng.range(5, 40)
                    };
                    // Gift cards are digital: no stock to count.
                    let stock = if spec.id == "gift-card" {
                        None
                    } else {
                        Some(
                            FIXED_STOCK
                                .iter()
                                .find(|(id, _)| *id == item_id)
                                .map_or(drawn, |(_, s)| *s),
                        )
                    };
                    Variant {
                        product_id: spec.id.to_string(),
                        options: combo
                            .iter()
                            .map(|(k, v)| (k.to_string(), v.to_string()))
                            .collect(),
                        price_cents,
                        available: !combo.iter().any(|(_, v)| spec.discontinued.contains(v)),
                        stock,
                        item_id,
                    }
                })
                .collect();
            Product {
                id: spec.id.to_string(),
                name: spec.name.to_string(),
                category: spec.category.to_string(),
                description: spec.description.to_string(),
                tags: spec.tags.iter().map(|t| t.to_string()).collect(),
                attributes: spec
                    .attributes
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
                options: spec
                    .options
                    .iter()
                    .map(|(k, vs)| (k.to_string(), vs.iter().map(|v| v.to_string()).collect()))
                    .collect(),
                variants,
                // The demo store's own pages: another store's products never get these.
                url: Some(DEMO_PRODUCT_URL.replace("{id}", spec.id)),
            }
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Customers

struct City {
    city: &'static str,
    region: &'static str,
    postcodes: &'static [&'static str],
    area: &'static str,
    /// How many of 100 customers live here.
    weight: u64,
}

const CITIES: &[City] = &[
    City {
        city: "Portland",
        region: "OR",
        postcodes: &["97210", "97209", "97214", "97202", "97217"],
        area: "503",
        weight: 22,
    },
    City {
        city: "Eugene",
        region: "OR",
        postcodes: &["97401", "97405"],
        area: "541",
        weight: 4,
    },
    City {
        city: "Bend",
        region: "OR",
        postcodes: &["97701", "97702"],
        area: "541",
        weight: 3,
    },
    City {
        city: "Seattle",
        region: "WA",
        postcodes: &["98103", "98122", "98107"],
        area: "206",
        weight: 10,
    },
    City {
        city: "San Francisco",
        region: "CA",
        postcodes: &["94110", "94117"],
        area: "415",
        weight: 7,
    },
    City {
        city: "Oakland",
        region: "CA",
        postcodes: &["94612", "94610"],
        area: "510",
        weight: 4,
    },
    City {
        city: "Los Angeles",
        region: "CA",
        postcodes: &["90026", "90039"],
        area: "323",
        weight: 7,
    },
    City {
        city: "Brooklyn",
        region: "NY",
        postcodes: &["11215", "11222"],
        area: "718",
        weight: 6,
    },
    City {
        city: "New York",
        region: "NY",
        postcodes: &["10014", "10003"],
        area: "212",
        weight: 5,
    },
    City {
        city: "Chicago",
        region: "IL",
        postcodes: &["60614", "60622"],
        area: "312",
        weight: 5,
    },
    City {
        city: "Austin",
        region: "TX",
        postcodes: &["78704", "78702"],
        area: "512",
        weight: 4,
    },
    City {
        city: "Denver",
        region: "CO",
        postcodes: &["80206", "80211"],
        area: "303",
        weight: 4,
    },
    City {
        city: "Boston",
        region: "MA",
        postcodes: &["02116", "02130"],
        area: "617",
        weight: 4,
    },
    City {
        city: "Minneapolis",
        region: "MN",
        postcodes: &["55408"],
        area: "612",
        weight: 3,
    },
    City {
        city: "Salt Lake City",
        region: "UT",
        postcodes: &["84102"],
        area: "801",
        weight: 2,
    },
    City {
        city: "Asheville",
        region: "NC",
        postcodes: &["28801"],
        area: "828",
        weight: 2,
    },
    City {
        city: "Philadelphia",
        region: "PA",
        postcodes: &["19103", "19125"],
        area: "215",
        weight: 3,
    },
    City {
        city: "Atlanta",
        region: "GA",
        postcodes: &["30307"],
        area: "404",
        weight: 3,
    },
    City {
        city: "Honolulu",
        region: "HI",
        postcodes: &["96815"],
        area: "808",
        weight: 2,
    },
];

const STREETS: &[&str] = &[
    "NE Alberta St",
    "SE Division St",
    "SE Hawthorne Blvd",
    "N Williams Ave",
    "Maple Ave",
    "Pine St",
    "Oak St",
    "Cedar Ave",
    "Lake St",
    "Park Ave",
    "Elm St",
    "Washington St",
    "Broadway",
    "Lincoln Ave",
    "Union St",
    "Grand Ave",
    "Mission St",
    "Highland Ave",
    "Spring St",
    "Willow Rd",
];

const FIRST_NAMES: &[&str] = &[
    "Olivia", "Liam", "Priya", "Mateo", "Hannah", "Noah", "Aisha", "Ethan", "Sofia", "Lucas",
    "Grace", "Kenji", "Amara", "Owen", "Isabel", "Ravi", "Chloe", "Marcus", "Elena", "Theo",
    "Nora", "Diego", "Zoe", "Samuel", "Leah", "Jonah", "Mia", "Tomás", "Ava", "Felix", "Ruth",
    "Omar", "Ingrid", "Caleb", "Yara", "Henry", "Lucia", "Arjun", "Clara", "Wes",
];

const LAST_NAMES: &[&str] = &[
    "Nguyen",
    "Patel",
    "Garcia",
    "Johnson",
    "Kim",
    "Okonkwo",
    "Larsen",
    "Martinez",
    "Brooks",
    "Tanaka",
    "Silva",
    "O'Brien",
    "Schmidt",
    "Haddad",
    "Murphy",
    "Reyes",
    "Novak",
    "Walker",
    "Cohen",
    "Bianchi",
    "Fischer",
    "Adeyemi",
    "Lindqvist",
    "Moreau",
    "Sato",
    "Hughes",
    "Kowalski",
    "Alvarez",
    "Park",
    "Dubois",
    "Bennett",
    "Castillo",
    "Ward",
    "Yamamoto",
    "Rossi",
    "Foster",
    "Ibrahim",
    "Kaur",
    "Delgado",
    "Sullivan",
];

const CARD_BRANDS: &[&str] = &["visa", "visa", "mastercard", "amex", "discover"];

/// Sales tax in basis points by state (a flat demo rate; Oregon has none).
fn tax_bp(region: &str) -> i64 {
    match region {
        "OR" => 0,
        "WA" => 1025,
        "CA" => 875,
        "NY" => 888,
        "IL" => 1025,
        "TX" => 825,
        "CO" => 481,
        "MA" => 625,
        "MN" => 788,
        "UT" => 725,
        "NC" => 700,
        "PA" => 600,
        "GA" => 890,
        "HI" => 450,
        _ => 0,
    }
}

fn email_local(first: &str, last: &str) -> String {
    let clean = |s: &str| -> String {
        s.chars()
            .map(|c| match c {
                'á' | 'à' | 'â' => 'a',
                'é' | 'è' | 'ê' => 'e',
                'í' => 'i',
                'ó' | 'ô' => 'o',
                'ú' => 'u',
                other => other,
            })
            .filter(char::is_ascii_alphanumeric)
            .flat_map(|c| c.to_lowercase())
            .collect()
    };
    format!("{}.{}", clean(first), clean(last))
}

fn customer(
    n: u32,
    first: &str,
    last: &str,
    email: String,
    phone: String,
    address: Address,
    payment_methods: Vec<PaymentMethod>,
) -> Customer {
    Customer {
        id: format!("cus_{n:03}"),
        first_name: first.into(),
        last_name: last.into(),
        email,
        phone: Some(phone),
        default_address: Some(address),
        payment_methods,
    }
}

fn addr(line1: &str, line2: Option<&str>, city: &str, region: &str, postcode: &str) -> Address {
    Address {
        line1: line1.into(),
        line2: line2.map(Into::into),
        city: city.into(),
        region: region.into(),
        postcode: postcode.into(),
        country: "US".into(),
    }
}

fn card(n: u32, k: u32, brand: &str, last4: &str) -> PaymentMethod {
    PaymentMethod {
        id: format!("card_{n:03}_{k}"),
        kind: PaymentMethodKind::CreditCard,
        brand: Some(brand.into()),
        last4: Some(last4.into()),
        balance_cents: None,
    }
}

fn wallet(n: u32, k: u32, kind: PaymentMethodKind) -> PaymentMethod {
    let prefix = match kind {
        PaymentMethodKind::Paypal => "paypal",
        PaymentMethodKind::ApplePay => "apple_pay",
        PaymentMethodKind::GooglePay => "google_pay",
        _ => "wallet",
    };
    PaymentMethod {
        id: format!("{prefix}_{n:03}_{k}"),
        kind,
        brand: None,
        last4: None,
        balance_cents: None,
    }
}

fn customers(rng: &mut Rng) -> Vec<Customer> {
    let mut out = vec![
        customer(
            1,
            "Maya",
            "Chen",
            "maya.chen@example.com".into(),
            "+1 503-555-0101".into(),
            addr("2218 NW Flanders St", None, "Portland", "OR", "97210"),
            vec![
                card(1, 1, "visa", "4242"),
                wallet(1, 2, PaymentMethodKind::Paypal),
            ],
        ),
        customer(
            2,
            "Daniel",
            "Okafor",
            "daniel.okafor@example.com".into(),
            "+1 206-555-0102".into(),
            addr(
                "4417 Fremont Ave N",
                Some("Apt 2"),
                "Seattle",
                "WA",
                "98103",
            ),
            vec![
                card(2, 1, "mastercard", "8210"),
                wallet(2, 2, PaymentMethodKind::ApplePay),
            ],
        ),
        customer(
            3,
            "Sam",
            "Rivera",
            "sam.rivera@example.com".into(),
            "+1 503-555-0103".into(),
            addr(
                "1420 SE Hawthorne Blvd",
                Some("Unit 5"),
                "Portland",
                "OR",
                "97214",
            ),
            vec![card(3, 1, "visa", "1881")],
        ),
        customer(
            4,
            "Sam",
            "Rivera",
            "sam.rivera.tx@example.com".into(),
            "+1 512-555-0104".into(),
            addr("905 S 1st St", None, "Austin", "TX", "78704"),
            vec![
                card(4, 1, "amex", "3005"),
                wallet(4, 2, PaymentMethodKind::Paypal),
            ],
        ),
    ];
    let mut used: Vec<(usize, usize)> = Vec::new();
    let total_weight: u64 = CITIES.iter().map(|c| c.weight).sum();
    for n in 5..=40u32 {
        // A name pair not used yet (and never one of the fixed customers').
        let (fi, li) = loop {
            let pair = (
                rng.below(FIRST_NAMES.len() as u64) as usize,
                rng.below(LAST_NAMES.len() as u64) as usize,
            );
            if !used.contains(&pair) {
                used.push(pair);
                break pair;
            }
        };
        let (first, last) = (FIRST_NAMES[fi], LAST_NAMES[li]);
        let mut roll = rng.below(total_weight);
        let city = CITIES
            .iter()
            .find(|c| {
                if roll < c.weight {
                    true
                } else {
                    roll -= c.weight;
                    false
                }
            })
            .unwrap_or(&CITIES[0]);
        let postcode = rng.pick(city.postcodes).copied().unwrap_or("97210");
        let street = rng.pick(STREETS).copied().unwrap_or("Pine St");
        let line1 = format!("{} {street}", rng.range(100, 4999));
        let line2 = match rng.percent() {
            0..=11 => Some(format!("Apt {}", rng.range(1, 40))),
            12..=17 => Some(format!(
                "Unit {}{}",
                rng.range(1, 9),
                ["A", "B", "C"][rng.below(3) as usize]
            )),
            _ => None,
        };
        let mut methods = Vec::new();
        let mut k = 1;
        if rng.percent() < 75 {
            let brand = rng.pick(CARD_BRANDS).copied().unwrap_or("visa");
            methods.push(card(n, k, brand, &format!("{:04}", rng.below(10_000))));
            k += 1;
        }
        if methods.is_empty() || rng.percent() < 35 {
            methods.push(wallet(n, k, PaymentMethodKind::Paypal));
            k += 1;
        }
        match rng.percent() {
            0..=14 => methods.push(wallet(n, k, PaymentMethodKind::ApplePay)),
            15..=21 => methods.push(wallet(n, k, PaymentMethodKind::GooglePay)),
            22..=37 => methods.push(PaymentMethod {
                id: format!("gift_card_{n:03}_{k}"),
                kind: PaymentMethodKind::GiftCard,
                brand: None,
                last4: None,
                balance_cents: Some(rng.range(0, 30) * 500),
            }),
            _ => {}
        }
        let email = format!("{}@example.com", email_local(first, last));
        out.push(customer(
            n,
            first,
            last,
            email,
            format!("+1 {}-555-01{:02}", city.area, n),
            addr(&line1, line2.as_deref(), city.city, city.region, postcode),
            methods,
        ));
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Orders

struct Ctx<'a> {
    today: Date,
    now: OffsetDateTime,
    products: &'a [Product],
    rma: u32,
}

impl Ctx<'_> {
    fn next_rma(&mut self) -> String {
        let n = self.rma;
        self.rma += 1;
        format!("RMA-{n}")
    }
}

fn at(today: Date, days_ago: i64, hour: u8, minute: u8) -> OffsetDateTime {
    let time = Time::from_hms(hour.min(23), minute.min(59), 0).unwrap_or(Time::MIDNIGHT);
    (today - Duration::days(days_ago))
        .with_time(time)
        .assume_utc()
}

fn is_business_day(d: Date) -> bool {
    !matches!(d.weekday(), Weekday::Saturday | Weekday::Sunday)
}

fn add_business_days(mut d: Date, n: i64) -> Date {
    let mut left = n;
    while left > 0 {
        d += Duration::days(1);
        if is_business_day(d) {
            left -= 1;
        }
    }
    d
}

fn variant<'a>(products: &'a [Product], item_id: &str) -> Option<(&'a Product, &'a Variant)> {
    products
        .iter()
        .find_map(|p| p.variant(item_id).map(|v| (p, v)))
}

fn line(products: &[Product], item_id: &str, quantity: u32) -> Option<OrderItem> {
    let (p, v) = variant(products, item_id)?;
    Some(OrderItem {
        item_id: v.item_id.clone(),
        product_id: p.id.clone(),
        name: p.name.clone(),
        options: v.options.clone(),
        price_cents: v.price_cents,
        quantity,
        final_sale: p.is_final_sale(),
        status: ItemStatus::Ordered,
    })
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Ship {
    Standard,
    Express,
    NextDay,
}

impl Ship {
    fn name(self) -> &'static str {
        match self {
            Self::Standard => "standard",
            Self::Express => "express",
            Self::NextDay => "next_day",
        }
    }
    fn price(self, subtotal: i64) -> i64 {
        match self {
            Self::Standard if subtotal >= 7500 => 0,
            Self::Standard => 595,
            Self::Express => 1495,
            Self::NextDay => 2495,
        }
    }
}

/// Subtotal, shipping, tax and total for some lines shipped to `region`.
fn totals(items: &[OrderItem], ship: Ship, region: &str) -> (i64, i64, i64, i64) {
    let subtotal: i64 = items.iter().map(OrderItem::line_total_cents).sum();
    let shipping = ship.price(subtotal);
    let tax = (subtotal * tax_bp(region) + 5_000) / 10_000;
    (subtotal, shipping, tax, subtotal + shipping + tax)
}

/// A line's share of tax, so a refund gives back what was paid for it.
fn line_refund(item: &OrderItem, region: &str) -> i64 {
    let total = item.line_total_cents();
    total + (total * tax_bp(region) + 5_000) / 10_000
}

fn tracking_url(carrier: &str, number: &str) -> String {
    if carrier == "UPS" {
        format!("https://www.ups.com/track?tracknum={number}")
    } else {
        format!("https://tools.usps.com/go/TrackConfirmAction?tLabels={number}")
    }
}

/// Where a parcel is sorted on its way from Portland.
fn hub(region: &str, carrier: &str) -> &'static str {
    match (region, carrier) {
        ("OR", _) => "Portland, OR",
        ("WA", _) => "Seattle, WA",
        ("CA", _) => "Sacramento, CA",
        ("HI", _) => "Honolulu, HI",
        (_, "UPS") => "Hodgkins, IL",
        _ => "Salt Lake City, UT",
    }
}

/// The carrier scans a parcel has had by `now`.
fn events(
    shipped_at: OffsetDateTime,
    delivered_at: OffsetDateTime,
    carrier: &str,
    dest: &Address,
    now: OffsetDateTime,
) -> Vec<TrackingEvent> {
    let destination = format!("{}, {}", dest.city, dest.region);
    let origin = "Portland, OR".to_string();
    let usps = carrier == "USPS";
    let mut out = vec![
        (
            shipped_at - Duration::hours(3),
            if usps {
                "Shipping label created, USPS awaiting item"
            } else {
                "Label created"
            },
            origin.clone(),
        ),
        (
            shipped_at,
            if usps {
                "Accepted at USPS origin facility"
            } else {
                "Picked up"
            },
            origin,
        ),
    ];
    let days = (delivered_at.date() - shipped_at.date()).whole_days();
    if days >= 2 {
        out.push((
            shipped_at + Duration::hours(14),
            if usps {
                "Arrived at USPS regional facility"
            } else {
                "Arrived at facility"
            },
            hub(&dest.region, carrier).to_string(),
        ));
    }
    if days >= 3 {
        out.push((
            shipped_at + Duration::hours(38),
            "In transit to next facility",
            hub(&dest.region, carrier).to_string(),
        ));
    }
    let out_for_delivery = delivered_at
        .date()
        .with_time(Time::from_hms(13, 5, 0).unwrap_or(Time::MIDNIGHT))
        .assume_utc();
    out.push((out_for_delivery, "Out for delivery", destination.clone()));
    out.push((
        delivered_at,
        if usps {
            "Delivered, in/at mailbox"
        } else {
            "Delivered, front door"
        },
        destination,
    ));
    out.into_iter()
        .filter(|(t, _, _)| *t <= now)
        .map(|(at, status, location)| TrackingEvent {
            at,
            status: status.into(),
            location: Some(location),
        })
        .collect()
}

#[allow(clippy::too_many_arguments)]
fn fulfilment(
    carrier: &str,
    service: &str,
    tracking_number: String,
    items: &[OrderItem],
    shipped_at: OffsetDateTime,
    estimated: Date,
    delivered_at: OffsetDateTime,
    dest: &Address,
    now: OffsetDateTime,
) -> Fulfilment {
    Fulfilment {
        carrier: Some(carrier.into()),
        service: Some(service.into()),
        tracking_url: Some(tracking_url(carrier, &tracking_number)),
        tracking_number,
        item_ids: items.iter().map(|i| i.item_id.clone()).collect(),
        shipped_at: Some(shipped_at),
        estimated_delivery: Some(estimated),
        delivered_at: (delivered_at <= now).then_some(delivered_at),
        events: events(shipped_at, delivered_at, carrier, dest, now),
    }
}

fn payment(amount_cents: i64, method: &str, at: OffsetDateTime) -> Payment {
    Payment {
        kind: TransactionKind::Payment,
        amount_cents,
        payment_method_id: method.into(),
        at: Some(at),
    }
}

fn refund(amount_cents: i64, method: &str, at: OffsetDateTime) -> Payment {
    Payment {
        kind: TransactionKind::Refund,
        amount_cents,
        payment_method_id: method.into(),
        at: Some(at),
    }
}

/// LF-100001..LF-100005, exactly as [`DEMO_ORDERS`] describes them.
fn fixed_orders(today: Date, products: &[Product]) -> Vec<Order> {
    let now = demo_now(today);
    let maya = addr("2218 NW Flanders St", None, "Portland", "OR", "97210");
    let daniel = addr(
        "4417 Fremont Ave N",
        Some("Apt 2"),
        "Seattle",
        "WA",
        "98103",
    );
    let lines = |ids: &[&str]| -> Vec<OrderItem> {
        ids.iter().filter_map(|id| line(products, id, 1)).collect()
    };
    let order = |n: u32,
                 customer: &str,
                 status: OrderStatus,
                 created: OffsetDateTime,
                 items: Vec<OrderItem>,
                 ship: Ship,
                 dest: &Address|
     -> Order {
        let (subtotal, shipping, tax, total) = totals(&items, ship, &dest.region);
        Order {
            number: format!("LF-{n}"),
            customer_id: customer.into(),
            status,
            created_at: Some(created),
            items,
            subtotal_cents: subtotal,
            shipping_cents: shipping,
            tax_cents: tax,
            total_cents: total,
            shipping_method: Some(ship.name().into()),
            shipping_address: Some(dest.clone()),
            payments: Vec::new(),
            fulfilments: Vec::new(),
            returns: Vec::new(),
            exchanges: Vec::new(),
        }
    };

    let mut o1 = order(
        100_001,
        "cus_001",
        OrderStatus::Shipped,
        at(today, 3, 17, 20),
        lines(&["MCS-OATMEAL-M"]),
        Ship::Standard,
        &maya,
    );
    o1.payments
        .push(payment(o1.total_cents, "card_001_1", at(today, 3, 17, 21)));
    let shipped = at(today, 2, 22, 0);
    let due = at(today, -2, 20, 0);
    o1.fulfilments.push(fulfilment(
        "UPS",
        "Ground",
        "1Z8V2E410300100001".into(),
        &o1.items,
        shipped,
        today + Duration::days(2),
        due,
        &maya,
        now,
    ));

    let mut o2 = order(
        100_002,
        "cus_001",
        OrderStatus::Delivered,
        at(today, 9, 15, 42),
        lines(&["LSH-WHITE-M", "EAR-GOLDVERMEIL"]),
        Ship::Standard,
        &maya,
    );
    o2.payments.push(payment(
        o2.total_cents,
        "paypal_001_2",
        at(today, 9, 15, 43),
    ));
    o2.fulfilments.push(fulfilment(
        "USPS",
        "Ground Advantage",
        "9400111899223100100002".into(),
        &o2.items,
        at(today, 8, 22, 0),
        today - Duration::days(4),
        at(today, 5, 20, 15),
        &maya,
        now,
    ));

    let mut o3 = order(
        100_003,
        "cus_001",
        OrderStatus::Pending,
        at(today, 0, 16, 5),
        lines(&["TOT-NATURAL", "MUG-SPECKLEDWHITE"]),
        Ship::Standard,
        &maya,
    );
    o3.payments
        .push(payment(o3.total_cents, "card_001_1", at(today, 0, 16, 6)));

    let mut o4 = order(
        100_004,
        "cus_001",
        OrderStatus::Delivered,
        at(today, 50, 18, 30),
        lines(&["PSS-QUEEN-WHITE"]),
        Ship::Standard,
        &maya,
    );
    o4.payments
        .push(payment(o4.total_cents, "card_001_1", at(today, 50, 18, 31)));
    o4.fulfilments.push(fulfilment(
        "UPS",
        "Ground",
        "1Z8V2E410300100004".into(),
        &o4.items,
        at(today, 49, 22, 0),
        today - Duration::days(44),
        at(today, 45, 21, 10),
        &maya,
        now,
    ));

    let mut o5 = order(
        100_005,
        "cus_002",
        OrderStatus::Processing,
        at(today, 0, 9, 30),
        lines(&["SNK-WHITE-US10"]),
        Ship::Express,
        &daniel,
    );
    o5.payments.push(payment(
        o5.total_cents,
        "apple_pay_002_2",
        at(today, 0, 9, 31),
    ));

    vec![o1, o2, o3, o4, o5]
}

/// Every random choice for one generated order, drawn up front so that the sequence of draws
/// never depends on `today` (only the dates do).
struct Plan {
    days_ago: i64,
    minute: i64,
    customer: usize,
    lines: Vec<(usize, usize, u32)>,
    ship: Ship,
    method: u64,
    cancel: bool,
    cancel_after_min: i64,
    outcome: u64,
    transit: i64,
    return_after: i64,
    store_credit: bool,
    pick: u64,
    tracking: u64,
    usps: bool,
    delivered_minute: i64,
}

fn plan(rng: &mut Rng, products: &[Product], customers: usize) -> Plan {
    // A fifth of the orders are from the last ten days, so there is always something pending,
    // processing or on its way.
    let days_ago = if rng.percent() < 20 {
        rng.below(10)
    } else {
        rng.below(120)
    } as i64;
    let minute = rng.below(24 * 60) as i64;
    let customer = 1 + rng.below(customers.saturating_sub(1) as u64) as usize; // never Maya (index 0)
    let n_lines = match rng.percent() {
        0..=54 => 1,
        55..=84 => 2,
        _ => 3,
    };
    let mut lines: Vec<(usize, usize, u32)> = Vec::new();
    // Gift cards are sent by email, so the demo's shipped orders never contain them.
    let shippable: Vec<usize> = products
        .iter()
        .enumerate()
        .filter(|(_, p)| p.id != "gift-card")
        .map(|(i, _)| i)
        .collect();
    let mut tries = 0;
    while lines.len() < n_lines && tries < 20 {
        tries += 1;
        let p = shippable
            .get(rng.below(shippable.len() as u64) as usize)
            .copied()
            .unwrap_or(0);
        let variants = products.get(p).map_or(0, |p| p.variants.len());
        let v = rng.below(variants as u64) as usize;
        let qty = if rng.percent() < 8 { 2 } else { 1 };
        let sellable = products
            .get(p)
            .and_then(|p| p.variants.get(v))
            .is_some_and(|v| v.available);
        if sellable && !lines.iter().any(|(lp, _, _)| *lp == p) {
            lines.push((p, v, qty));
        }
    }
    let ship = match rng.percent() {
        0..=74 => Ship::Standard,
        75..=92 => Ship::Express,
        _ => Ship::NextDay,
    };
    Plan {
        days_ago,
        minute,
        customer,
        lines,
        ship,
        method: rng.next(),
        cancel: rng.percent() < 7,
        cancel_after_min: rng.range(15, 360),
        outcome: rng.percent(),
        transit: rng.range(3, 5),
        return_after: rng.range(2, 8),
        store_credit: rng.percent() < 30,
        pick: rng.next(),
        tracking: rng.below(100_000_000),
        usps: rng.percent() < 50,
        delivered_minute: rng.range(0, 239),
    }
}

fn generated_orders(
    rng: &mut Rng,
    ctx: &mut Ctx<'_>,
    customers: &mut [Customer],
    orders: &mut Vec<Order>,
) {
    let count = DEMO_ORDER_COUNT - orders.len();
    let mut plans: Vec<Plan> = (0..count)
        .map(|_| plan(rng, ctx.products, customers.len()))
        .collect();
    // Numbers rise with the order date, oldest first.
    plans.sort_by_key(|p| (std::cmp::Reverse(p.days_ago), p.minute));
    let first = FIRST_NUMBER + orders.len() as u32;
    for (i, p) in plans.iter().enumerate() {
        if let Some(order) = generated_order(ctx, customers, p, first + i as u32) {
            orders.push(order);
        }
    }
}

fn generated_order(
    ctx: &mut Ctx<'_>,
    customers: &mut [Customer],
    p: &Plan,
    number: u32,
) -> Option<Order> {
    let (today, now) = (ctx.today, ctx.now);
    // Today's orders were placed before "now".
    let minute = if p.days_ago == 0 {
        p.minute % (18 * 60)
    } else {
        p.minute
    };
    let created = at(today, p.days_ago, (minute / 60) as u8, (minute % 60) as u8);
    let customer = customers.get_mut(p.customer)?;
    let dest = customer.default_address.clone()?;
    let items: Vec<OrderItem> = p
        .lines
        .iter()
        .filter_map(|(pi, vi, qty)| {
            let v = ctx.products.get(*pi)?.variants.get(*vi)?;
            line(ctx.products, &v.item_id, *qty)
        })
        .collect();
    if items.is_empty() {
        return None;
    }
    let (subtotal, shipping, tax, total) = totals(&items, p.ship, &dest.region);
    let method = customer
        .payment_methods
        .get((p.method % customer.payment_methods.len().max(1) as u64) as usize)?
        .id
        .clone();
    let mut order = Order {
        number: format!("LF-{number}"),
        customer_id: customer.id.clone(),
        status: OrderStatus::Pending,
        created_at: Some(created),
        items,
        subtotal_cents: subtotal,
        shipping_cents: shipping,
        tax_cents: tax,
        total_cents: total,
        shipping_method: Some(p.ship.name().into()),
        shipping_address: Some(dest.clone()),
        payments: vec![payment(total, &method, created + Duration::minutes(1))],
        fulfilments: Vec::new(),
        returns: Vec::new(),
        exchanges: Vec::new(),
    };

    // The timeline: packed and shipped the next business day (Next Day orders placed by noon
    // Pacific ship the same day), then the carrier's transit time in business days.
    let cutoff = created
        .date()
        .with_time(Time::from_hms(19, 0, 0).unwrap_or(Time::MIDNIGHT))
        .assume_utc();
    let same_day = p.ship == Ship::NextDay && is_business_day(created.date()) && created < cutoff;
    let ship_date = if same_day {
        created.date()
    } else {
        add_business_days(created.date(), 1)
    };
    let shipped_at = ship_date
        .with_time(Time::from_hms(22, 0, 0).unwrap_or(Time::MIDNIGHT))
        .assume_utc();
    let (transit, promised) = match (p.ship, dest.region.as_str()) {
        (Ship::Standard, "HI") => (p.transit + 2, 7),
        (Ship::Standard, _) => (p.transit, 5),
        (Ship::Express, _) => (2, 2),
        (Ship::NextDay, _) => (1, 1),
    };
    let delivered_at = add_business_days(ship_date, transit)
        .with_time(Time::from_hms(20, 0, 0).unwrap_or(Time::MIDNIGHT))
        .assume_utc()
        + Duration::minutes(p.delivered_minute);
    let (carrier, service, tracking) = match (p.ship, p.usps) {
        (Ship::Standard, true) => (
            "USPS",
            "Ground Advantage",
            format!("94001118992231{:08}", p.tracking),
        ),
        (Ship::Standard, false) => ("UPS", "Ground", format!("1Z8V2E4103{:08}", p.tracking)),
        (Ship::Express, _) => ("UPS", "2nd Day Air", format!("1Z8V2E4102{:08}", p.tracking)),
        (Ship::NextDay, _) => (
            "UPS",
            "Next Day Air",
            format!("1Z8V2E4101{:08}", p.tracking),
        ),
    };

    if p.cancel {
        // Cancelled before it shipped, refunded at once.
        let cancelled_at = (created + Duration::minutes(p.cancel_after_min))
            .min(now)
            .min(shipped_at - Duration::hours(4))
            .max(created);
        order.status = OrderStatus::Cancelled;
        for item in &mut order.items {
            item.status = ItemStatus::Cancelled;
        }
        order.payments.push(refund(total, &method, cancelled_at));
        return Some(order);
    }
    if now < created + Duration::minutes(20) || (p.days_ago == 0 && p.outcome < 50) {
        order.status = OrderStatus::Pending;
        return Some(order);
    }
    if now < shipped_at {
        order.status = OrderStatus::Processing;
        return Some(order);
    }
    let estimated = add_business_days(ship_date, promised);
    order.fulfilments.push(fulfilment(
        carrier,
        service,
        tracking,
        &order.items,
        shipped_at,
        estimated,
        delivered_at,
        &dest,
        now,
    ));
    if now < delivered_at {
        order.status = OrderStatus::Shipped;
        return Some(order);
    }
    order.status = OrderStatus::Delivered;

    let returnable: Vec<usize> = order
        .items
        .iter()
        .enumerate()
        .filter(|(_, i)| !i.final_sale)
        .map(|(i, _)| i)
        .collect();
    if returnable.is_empty() {
        return Some(order);
    }
    let requested_at = (delivered_at + Duration::days(p.return_after)).min(now);
    // Requests are only made inside the 30-day window: orders 15–27 days old were certainly
    // delivered (at most 14 days after ordering) and less than 30 days ago.
    if (15..=27).contains(&p.days_ago) && p.outcome < 50 {
        if p.outcome < 25 {
            if let Some(exchange) = exchange(ctx, &order, &returnable, p, &method, requested_at) {
                for id in &exchange.item_ids {
                    if let Some(item) = order.items.iter_mut().find(|i| i.item_id == *id) {
                        item.status = ItemStatus::ExchangeRequested;
                    }
                }
                order.exchanges.push(exchange);
                order.status = OrderStatus::ExchangeRequested;
                return Some(order);
            }
        }
        let chosen: Vec<usize> = if p.pick.is_multiple_of(2) {
            returnable.clone()
        } else {
            vec![returnable[(p.pick as usize / 2) % returnable.len()]]
        };
        let refund_cents = chosen
            .iter()
            .map(|&i| line_refund(&order.items[i], &dest.region))
            .sum();
        for &i in &chosen {
            order.items[i].status = ItemStatus::ReturnRequested;
        }
        order.returns.push(ReturnRecord {
            number: ctx.next_rma(),
            item_ids: chosen
                .iter()
                .map(|&i| order.items[i].item_id.clone())
                .collect(),
            status: ReturnStatus::Requested,
            refund_method: method.clone(),
            refund_cents,
            created_at: Some(requested_at),
        });
        order.status = OrderStatus::ReturnRequested;
        return Some(order);
    }
    // Completed returns: requested, received four days later, refunded after inspection.
    if p.days_ago >= 30 && p.outcome < 16 {
        let whole = p.outcome < 10 && returnable.len() == order.items.len();
        let chosen: Vec<usize> = if whole {
            returnable.clone()
        } else if order.items.len() > 1 {
            vec![returnable[(p.pick as usize) % returnable.len()]]
        } else {
            return Some(order);
        };
        let refund_cents: i64 = chosen
            .iter()
            .map(|&i| line_refund(&order.items[i], &dest.region))
            .sum();
        let received = requested_at + Duration::days(4);
        let (refund_method, refunded_at) = if p.store_credit {
            // Store credit: a new Larkfield gift card with the 10% bonus, issued within a day.
            let n = customer.payment_methods.len() + 1;
            let id = format!(
                "store_credit_{}_{n}",
                customer.id.trim_start_matches("cus_")
            );
            customer.payment_methods.push(PaymentMethod {
                id: id.clone(),
                kind: PaymentMethodKind::StoreCredit,
                brand: None,
                last4: None,
                balance_cents: Some(refund_cents + refund_cents / 10),
            });
            (id, received + Duration::days(1))
        } else {
            (method.clone(), received + Duration::days(3))
        };
        for &i in &chosen {
            order.items[i].status = ItemStatus::Returned;
        }
        order
            .payments
            .push(refund(refund_cents, &refund_method, refunded_at.min(now)));
        order.returns.push(ReturnRecord {
            number: ctx.next_rma(),
            item_ids: chosen
                .iter()
                .map(|&i| order.items[i].item_id.clone())
                .collect(),
            status: ReturnStatus::Refunded,
            refund_method,
            refund_cents,
            created_at: Some(requested_at),
        });
        order.status = if whole {
            OrderStatus::Returned
        } else {
            OrderStatus::PartiallyReturned
        };
    }
    Some(order)
}

/// An exchange of one returnable line for another in-stock variant of the same product.
fn exchange(
    ctx: &mut Ctx<'_>,
    order: &Order,
    returnable: &[usize],
    p: &Plan,
    method: &str,
    at: OffsetDateTime,
) -> Option<ExchangeRecord> {
    for k in 0..returnable.len() {
        let item = &order.items[returnable[(p.pick as usize + k) % returnable.len()]];
        let product = ctx.products.iter().find(|pr| pr.id == item.product_id)?;
        let options: Vec<&Variant> = product
            .variants
            .iter()
            .filter(|v| v.item_id != item.item_id && v.in_stock())
            .collect();
        if options.is_empty() {
            continue;
        }
        let new = options[(p.pick / 7) as usize % options.len()];
        return Some(ExchangeRecord {
            number: ctx.next_rma(),
            item_ids: vec![item.item_id.clone()],
            new_item_ids: vec![new.item_id.clone()],
            status: ExchangeStatus::Requested,
            price_difference_cents: new.price_cents - item.price_cents,
            payment_method_id: method.to_string(),
            created_at: Some(at),
        });
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::money::Currency;

    #[test]
    fn the_prng_is_the_same_everywhere() {
        let mut a = Rng(SEED);
        let mut b = Rng(SEED);
        let xs: Vec<u64> = (0..5).map(|_| a.next()).collect();
        assert_eq!(xs, (0..5).map(|_| b.next()).collect::<Vec<_>>());
        assert_eq!(Rng(0).next(), 0xE220_A839_7B1D_CDAF); // SplitMix64's published first output
    }

    #[test]
    fn variant_ids_are_unique_and_readable() {
        let products = catalogue(&mut Rng(SEED));
        let mut ids = std::collections::HashSet::new();
        for p in &products {
            for v in &p.variants {
                assert!(ids.insert(v.item_id.clone()), "{} twice", v.item_id);
            }
        }
        assert!(
            ids.contains("LSH-WHITE-M")
                && ids.contains("PSS-CALKING-SLATE")
                && ids.contains("GFT-25")
        );
        assert_eq!(products.len(), 30);
    }

    #[test]
    fn business_days_skip_weekends() {
        let friday = time::macros::date!(2026 - 11 - 27);
        assert_eq!(
            add_business_days(friday, 1),
            time::macros::date!(2026 - 11 - 30)
        );
        assert_eq!(
            add_business_days(friday, 5),
            time::macros::date!(2026 - 12 - 04)
        );
    }

    #[test]
    fn product_documents_carry_options_care_and_the_final_sale_note() {
        let products = catalogue(&mut Rng(SEED));
        let earrings = products
            .iter()
            .find(|p| p.id == "gold-hoop-earrings")
            .map(|p| product_document(p, Some("https://shop.example/{id}"), Currency::default()))
            .unwrap();
        assert_eq!(earrings.id, "product-gold-hoop-earrings");
        assert_eq!(earrings.product_id.as_deref(), Some("gold-hoop-earrings"));
        let text: String = earrings
            .blocks
            .iter()
            .map(|b| b.text.clone())
            .collect::<Vec<_>>()
            .join("\n");
        assert!(text.contains("Finish: Gold vermeil, Sterling silver."));
        assert!(text.contains("Price: $54.00 to $64.00"));
        assert!(text.contains("final sale"));
        let shirt = products
            .iter()
            .find(|p| p.id == "linen-shirt")
            .map(|p| product_document(p, None, Currency::default()))
            .unwrap();
        assert!(shirt
            .blocks
            .iter()
            .any(|b| b.headings == ["Care"] && b.text.contains("line dry")));
        assert!(!shirt.blocks.iter().any(|b| b.headings == ["Returns"]));
        // The demo's products carry their own pages, which win over any template.
        assert_eq!(
            earrings.url.as_deref(),
            Some("https://larkfield.example/products/gold-hoop-earrings")
        );
        assert_eq!(
            shirt.url.as_deref(),
            Some("https://larkfield.example/products/linen-shirt")
        );
    }

    #[test]
    fn a_products_own_url_wins_and_the_template_encodes_the_id() {
        let mut p = catalogue(&mut Rng(SEED)).remove(0);
        p.id = "a b/c".into();
        p.url = None;
        assert_eq!(
            product_url(&p, Some("https://shop.example/p/{id}")).as_deref(),
            Some("https://shop.example/p/a%20b%2Fc")
        );
        // No template and no URL of its own: no link at all, never the demo store's.
        assert_eq!(product_url(&p, Some("  ")), None);
        assert_eq!(product_url(&p, None), None);
        p.url = Some("https://shop.example/products/linen".into());
        assert_eq!(
            product_url(&p, Some("https://x.example/{id}")).as_deref(),
            Some("https://shop.example/products/linen")
        );
    }
}
