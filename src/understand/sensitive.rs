//! Sensitive messages, found by rules: legal threats, chargebacks, fraud, injuries and safety
//! hazards, harassment, and strong anger. A flag is a reason to hand the conversation to a
//! person or to answer with extra care; it does not replace the intent.
//!
//! The rules favour precision: customers swear in ordinary questions ("what bloody payment
//! options do you have"), and those must keep flowing to an answer. So profanity alone is never
//! a flag; profanity aimed at the store, or with shouting, is. This module does not decide what
//! to do about a flag.

use serde::Serialize;

use super::text::{find_phrase, first_phrase, words};

/// The kind of sensitive content, most urgent first (the order [`detect`] checks them in).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SensitiveKind {
    /// Someone was hurt or something is hazardous: "injured", "burned myself", "caught fire",
    /// "allergic reaction", "cut my hand", "unsafe", "fire hazard", "went to the hospital".
    /// Not "how long does the candle burn" or "I'm allergic to wool, is this wool?".
    InjurySafety,
    /// Threats of violence ("I'll kill you", "burn down your store"), slurs, and sexual
    /// harassment aimed at the staff.
    Harassment,
    /// "lawyer", "attorney", "solicitor", "lawsuit", "legal action", "small claims", "take you to
    /// court", "class action", "trading standards", and "sue"/"suing"/"sued" when aimed at
    /// someone ("I'll sue", "suing you", "sue the company"); not the typos for "use"/"using"
    /// ("can I sue the premium profile", "assistance suing the Platinum account") nor "Sue".
    LegalThreat,
    /// "fraud", "scam", "unauthorised/unauthorized charge", "I didn't authorize", "stolen card",
    /// "someone used my card", "account hacked", "identity theft", "phishing".
    Fraud,
    /// "chargeback", "charge back", "dispute" together with a charge, payment, bank, card,
    /// PayPal or transaction, "reverse the charge".
    Chargeback,
    /// Profanity or insults aimed at the store ("f*** you", "your shitty company", "you people
    /// are useless", "this company sucks"; not "talk with fucking customer service"), "worst company ever", "never shopping here again",
    /// ALL-CAPS shouting with "!!", and profanity with "!!!". Not mild profanity in an ordinary
    /// question, and not plain criticism ("terrible service" is a complaint, not a flag).
    StrongAnger,
}

/// A flag and the words that raised it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Sensitive {
    pub kind: SensitiveKind,
    pub matched: String,
}

const INJURY: &[&str] = &[
    "injur*",
    "hurt myself",
    "hurt my son|daughter|child|kid|kids|baby|wife|husband|partner|dog|cat|hand|hands|finger|fingers|foot|feet|eye|eyes|skin|face",
    "got|was|were|been hurt",
    "burned|burnt myself",
    "burned|burnt my",
    "got|been burned|burnt",
    "burns on",
    "caught|catch|catches|catching fire",
    "on fire",
    "set fire",
    "started a fire",
    "fire hazard",
    "safety hazard",
    "choking hazard",
    "explode*",
    "allergic reaction",
    "broke out in",
    "a|an|itchy rash",
    "rash on|from|after|all",
    "hives",
    "cut myself",
    "cut my hand|finger|fingers|foot|feet|lip|mouth",
    "i'm bleeding",
    "i am|was bleeding",
    "made me bleed",
    "unsafe",
    "is dangerous",
    "dangerous product",
    "choking",
    "choked",
    "electric shock",
    "shocked me",
    "poisoned",
    "poisoning",
    "hospital",
    "emergency room",
    "a&e",
];

const THREATS: &[&str] = &[
    "kill you|u|yall|y'all|everyone",
    "i'll kill",
    "i will kill",
    "gonna kill",
    "going to kill",
    "hurt you",
    "beat you",
    "i'll find you",
    "i will find you",
    "find where you live",
    "i know where you live",
    "burn down",
    "burn your store|shop|warehouse|office",
    "shoot you|up",
    "bomb threat",
    "bomb your|the store|shop|warehouse|office",
    "watch your back",
    "you'll regret",
    "you will regret",
    "send nudes",
    "send me pics|pictures|photos of you",
    "sleep with me",
];

/// Slurs and sexual insults: aimed at someone in a support chat, they are harassment.
const SLURS: &[&str] = &[
    "retard", "retards", "retarded", "faggot", "faggots", "fag", "fags", "nigger", "niggers",
    "nigga", "kike", "spic", "chink", "tranny", "dyke", "cunt", "cunts", "whore", "slut",
];

const LEGAL: &[&str] = &[
    "lawyer*",
    "attorney*",
    "solicitor*",
    "lawsuit*",
    "legal action",
    "legal proceedings",
    "legal steps",
    "take legal",
    "small claims",
    "take you|u|them|this to court",
    "see you in court",
    "class action",
    "trading standards",
];

const FRAUD: &[&str] = &[
    "fraud*",
    "scam*",
    "unauthori*",
    "didn't|never authorize|authorise|authorized|authorised",
    "did not authorize|authorise",
    "not authorized|authorised by me",
    "stolen card|cards",
    "card was|got stolen",
    "card has|had been stolen",
    "stole my card|identity|details",
    "someone used|using my card",
    "someone is using my card",
    "someone else used|using my card",
    "hacked",
    "hacker*",
    "identity theft",
    "phishing",
];

const DISPUTE_WITH: &[&str] = &[
    "charge",
    "charges",
    "payment",
    "bank",
    "card",
    "paypal",
    "transaction",
    "credit",
    "amex",
    "visa",
    "mastercard",
    "purchase",
    "issuer",
];

const CHARGEBACK: &[&str] = &[
    "chargeback*",
    "charge back",
    "charged back",
    "reverse the|this|my charge|payment|transaction",
    "payment reversal",
    "stop the payment",
];

/// Profane words that, aimed at the store, make a message strongly angry.
const HARD_PROFANITY: &str =
    "fucking|fuckin|fking|fcking|effing|shitty|crappy|shit|crap|goddamn|damned";
const STORE_NOUNS: &str = "company|store|shop|service|website|site|business|outfit|people|staff|support|team|brand|bot|app";

const ANGER: &[&str] = &[
    "fuck you|u|off|this|yall|y'all|larkfield|your|ur|larkfield's",
    "screw you|u|this|larkfield",
    "go to hell",
    "piss off",
    "eat shit",
    "you|u guys|people|lot suck",
    "you|u suck",
    "you|u guys|people|lot are useless|idiots|morons|clowns|thieves|crooks|liars|pathetic|incompetent|garbage|trash",
    "you|u are useless|idiots|morons|clowns|thieves|crooks|liars|pathetic|incompetent|garbage|trash",
    "you|u guys|people|lot are a joke",
    "you|u are a joke",
    "you|u useless|stupid|incompetent|fucking|idiot|idiots|moron|morons|clowns|bastards|assholes|bitch|bitches",
    "useless|incompetent|stupid idiots|morons|clowns|bastards|assholes",
    "company|store|shop|service|website|site|business|brand sucks",
    "is bullshit",
    "this bullshit",
    "such bullshit",
    "absolute bullshit",
];

const STORE_OR_ME: &str =
    "company|store|shop|service|business|experience|customer|retailer|website|site|brand";

/// Checks the message against each kind, most urgent first, and returns the first match.
pub fn detect(text: &str) -> Option<Sensitive> {
    let w = words(text);
    let lower = text.to_lowercase();
    let flag = |kind, matched: String| Some(Sensitive { kind, matched });

    if let Some(m) = first_phrase(&w, INJURY) {
        return flag(SensitiveKind::InjurySafety, m);
    }
    if let Some(m) = first_phrase(&w, THREATS) {
        return flag(SensitiveKind::Harassment, m);
    }
    if let Some(s) = w.iter().find(|x| SLURS.contains(&x.as_str())) {
        return flag(SensitiveKind::Harassment, s.clone());
    }
    if let Some(m) = first_phrase(&w, LEGAL) {
        return flag(SensitiveKind::LegalThreat, m);
    }
    // "sue" only when aimed at someone: a bare "sue" is too often a name ("this is Sue") or
    // Bitext's typo for "use".
    let name_sue = text
        .split_whitespace()
        .skip(1)
        .any(|t| t.trim_matches(|c: char| !c.is_alphabetic()) == "Sue");
    if let Some(i) = w
        .iter()
        .position(|x| matches!(x.as_str(), "sue" | "suing" | "sued"))
        .filter(|_| !name_sue)
    {
        let prev = i.checked_sub(1).map(|p| w[p].as_str()).unwrap_or("");
        let next = w.get(i + 1).map(String::as_str).unwrap_or("");
        let next2 = w.get(i + 2).map(String::as_str).unwrap_or("");
        let aimed = matches!(
            next,
            "you" | "u" | "ya" | "your" | "yall" | "y'all" | "them" | "larkfield" | "this" | "over"
        ) || next == "the"
            && matches!(next2, "company" | "store" | "shop" | "business" | "pants")
            || matches!(
                prev,
                "will"
                    | "i'll"
                    | "we'll"
                    | "gonna"
                    | "to"
                    | "i'd"
                    | "could"
                    | "should"
                    | "be"
                    | "am"
                    | "i'm"
                    | "get"
                    | "got"
            );
        if aimed {
            return flag(SensitiveKind::LegalThreat, w[i].clone());
        }
    }
    if let Some(m) = first_phrase(&w, FRAUD) {
        return flag(SensitiveKind::Fraud, m);
    }
    if let Some(m) = first_phrase(&w, CHARGEBACK) {
        return flag(SensitiveKind::Chargeback, m);
    }
    if w.iter().any(|x| x.starts_with("disput"))
        && w.iter().any(|x| DISPUTE_WITH.contains(&x.as_str()))
    {
        return flag(SensitiveKind::Chargeback, "dispute".into());
    }
    strong_anger(text, &lower, &w).map(|m| Sensitive {
        kind: SensitiveKind::StrongAnger,
        matched: m,
    })
}

fn strong_anger(text: &str, lower: &str, w: &[String]) -> Option<String> {
    // Censored swearing at someone: "f*** you", "f*ck off".
    for censored in ["f*** ", "f**k ", "f*ck ", "f@#k ", "f### "] {
        if let Some(at) = lower.find(censored) {
            let rest = &lower[at + censored.len()..];
            if ["you", "u ", "off", "this", "your"]
                .iter()
                .any(|t| rest.starts_with(t))
            {
                return Some(
                    lower[at..at
                        + censored.len()
                        + rest.split_whitespace().next().map_or(0, str::len)]
                        .to_string(),
                );
            }
        }
    }
    if let Some(m) = first_phrase(w, ANGER) {
        return Some(m);
    }
    // "your shitty company", "this fucking store": aimed at the store. Not "talk with fucking
    // customer service" or "the fucking company newsletter", where the swearing only intensifies
    // an ordinary request.
    let aimed = "your|ur|this|such|a|larkfield|larkfield's";
    if let Some(m) = first_phrase(
        w,
        &[
            &format!("{aimed} {HARD_PROFANITY} {STORE_NOUNS}"),
            &format!("{aimed} {HARD_PROFANITY} customer service|support"),
        ],
    ) {
        return Some(m);
    }
    // "worst company ever", "the worst store I've ever dealt with".
    if let Some(i) = find_phrase(w, &format!("worst {STORE_OR_ME}")) {
        if w[i..].iter().take(8).any(|x| x == "ever") {
            return Some(format!("worst {}", w[i + 1]));
        }
    }
    if let Some(m) = first_phrase(
        w,
        &[
            "worst * ever",
            "never shopping|ordering|buying here|from|with",
        ],
    ) {
        return Some(m);
    }
    if let Some(i) = find_phrase(w, "never shop|order|buy|shopping|ordering|buying") {
        if w[i..].iter().take(6).any(|x| x == "again") {
            return Some(w[i..(i + 6).min(w.len())].join(" "));
        }
    }
    let bangs = text.matches('!').count();
    // Shouting: mostly capital letters, several words, and exclamation marks.
    let letters: Vec<char> = text.chars().filter(|c| c.is_alphabetic()).collect();
    let upper = letters.iter().filter(|c| c.is_uppercase()).count();
    let caps_words = text
        .split_whitespace()
        .filter(|t| {
            t.chars().filter(|c| c.is_alphabetic()).count() >= 2
                && t.chars().all(|c| !c.is_alphabetic() || c.is_uppercase())
        })
        .count();
    if bangs >= 2
        && letters.len() >= 12
        && upper as f32 >= 0.8 * letters.len() as f32
        && caps_words >= 3
    {
        return Some("ALL CAPS with !!".into());
    }
    // Swearing with "!!!".
    if bangs >= 3 {
        if let Some(p) = w.iter().find(|x| {
            x.starts_with("fuck")
                || x.starts_with("shit")
                || matches!(
                    x.as_str(),
                    "goddamn" | "damn" | "bullshit" | "wtf" | "crap" | "bloody"
                )
        }) {
            return Some(format!("{p} with !!!"));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(text: &str) -> Option<SensitiveKind> {
        detect(text).map(|s| s.kind)
    }

    #[test]
    fn each_kind_has_a_trigger() {
        assert_eq!(
            kind("I'm calling my lawyer about this"),
            Some(SensitiveKind::LegalThreat)
        );
        assert_eq!(kind("I will sue you"), Some(SensitiveKind::LegalThreat));
        assert_eq!(
            kind("I'm suing you people"),
            Some(SensitiveKind::LegalThreat)
        );
        assert_eq!(
            kind("what a shitty company"),
            Some(SensitiveKind::StrongAnger)
        );
        assert_eq!(
            kind("I'll file a chargeback"),
            Some(SensitiveKind::Chargeback)
        );
        assert_eq!(
            kind("I'm going to dispute the charge with my bank"),
            Some(SensitiveKind::Chargeback)
        );
        assert_eq!(
            kind("there's an unauthorized charge on my card"),
            Some(SensitiveKind::Fraud)
        );
        assert_eq!(
            kind("the candle caught fire on my table"),
            Some(SensitiveKind::InjurySafety)
        );
        assert_eq!(
            kind("I'll burn down your warehouse"),
            Some(SensitiveKind::Harassment)
        );
        assert_eq!(kind("FUCK YOU"), Some(SensitiveKind::StrongAnger));
        assert_eq!(
            kind("WHERE IS MY ORDER I HAVE BEEN WAITING FOR WEEKS!!!"),
            Some(SensitiveKind::StrongAnger)
        );
        assert_eq!(kind("worst company ever"), Some(SensitiveKind::StrongAnger));
    }

    #[test]
    fn ordinary_questions_with_mild_profanity_flow() {
        for q in [
            "cancel my order",
            "where do I see your bloody payment options?",
            "I want assistance to inform of fucking registration issues",
            "can I sue the premium profile?",
            "how long does the candle burn?",
            "I'm allergic to wool, is this sweater wool?",
            "someone has stolen my profile password, I have to restore it",
            "terrible service, I want to file a complaint",
            "My name is Sue and I need my invoice",
            "assistance suing the Platinum account",
            "I need assistance to talk to fucking customer service",
            "wanna subscribe to the fucking company newsletter",
            "is the glaze non-toxic?",
        ] {
            assert_eq!(detect(q), None, "{q}");
        }
    }
}
