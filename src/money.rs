//! Amounts as people read them: the store's currency (`store.currency`, ISO 4217, through the
//! `iso_currency` crate for its symbol and minor unit) and an amount in that minor unit, as
//! order records keep it, written out: "$1,234.56", "€5.95", "¥1,200", "kr 12.00".
//!
//! A leaf: replies, action plans, the desk and the storefront all write amounts through it, so
//! a store selling in euros never reads "$" anywhere. It does not convert between currencies:
//! an order's amounts are in the store's currency (a multi-currency store's order is shown in
//! the currency it is configured with).

/// The currency a store's amounts are in. Made once from the config and copied where needed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Currency(iso_currency::Currency);

impl Default for Currency {
    /// US dollars: the demo store's, and the default of `store.currency`.
    fn default() -> Self {
        Self(iso_currency::Currency::USD)
    }
}

impl Currency {
    /// `code`: ISO 4217, any case ("EUR", "eur"); `None` for a code that is not one.
    pub fn from_code(code: &str) -> Option<Self> {
        iso_currency::Currency::from_code(&code.trim().to_ascii_uppercase()).map(Self)
    }

    /// "EUR".
    pub fn code(&self) -> &'static str {
        self.0.code()
    }

    /// An amount in minor units ("cents"): "$1,234.56", "-€5.95", "¥1,200" (no minor unit),
    /// "kr 12.00" (a symbol that is only letters gets a space).
    pub fn amount(&self, minor: i64) -> String {
        let digits = u32::from(self.0.exponent().unwrap_or(2));
        let scale = 10u64.pow(digits);
        let abs = minor.unsigned_abs();
        let whole = group(abs / scale);
        let sign = if minor < 0 { "-" } else { "" };
        let symbol = self.0.symbol().symbol;
        let fraction = if digits == 0 {
            String::new()
        } else {
            format!(".{:0width$}", abs % scale, width = digits as usize)
        };
        if symbol.chars().all(|c| c.is_ascii_alphabetic()) {
            format!("{sign}{symbol} {whole}{fraction}")
        } else {
            format!("{sign}{symbol}{whole}{fraction}")
        }
    }
}

/// "1,234,567".
fn group(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn money(code: &str, minor: i64) -> String {
        Currency::from_code(code).unwrap().amount(minor)
    }

    #[test]
    fn amounts_read_in_the_currency_with_its_minor_unit() {
        assert_eq!(money("USD", 0), "$0.00");
        assert_eq!(money("USD", 595), "$5.95");
        assert_eq!(money("USD", 12_345_678), "$123,456.78");
        assert_eq!(money("USD", -1495), "-$14.95");
        assert_eq!(money("eur", -595), "-€5.95");
        assert_eq!(money("JPY", 1200), "¥1,200");
        assert_eq!(money("GBP", 5), "£0.05");
        assert_eq!(money("SEK", 1200), "kr 12.00");
        // Three minor digits (the Kuwaiti dinar's fils).
        assert!(
            money("KWD", 1500).ends_with("1.500"),
            "{}",
            money("KWD", 1500)
        );
        assert_eq!(money("USD", i64::MIN), "-$92,233,720,368,547,758.08");
    }

    #[test]
    fn only_iso_codes_are_currencies() {
        assert!(Currency::from_code("XYZ").is_none());
        assert!(Currency::from_code("").is_none());
        assert_eq!(Currency::from_code(" eur ").unwrap().code(), "EUR");
        assert_eq!(Currency::default().code(), "USD");
    }
}
