//! Amounts and dates as a customer in each supported locale reads them. Deliberately small: the five
//! locales the messages are written in, and the currencies' minor units (ISO 4217).

use chrono::{Datelike, NaiveDate};

use crate::domain::money::Money;

/// Digits after the decimal separator: ISO 4217 exponents that are not 2.
fn exponent(currency: &str) -> u32 {
    match currency {
        "bif" | "clp" | "djf" | "gnf" | "isk" | "jpy" | "kmf" | "krw" | "pyg" | "rwf" | "ugx"
        | "vnd" | "vuv" | "xaf" | "xof" | "xpf" => 0,
        "bhd" | "iqd" | "jod" | "kwd" | "lyd" | "omr" | "tnd" => 3,
        _ => 2,
    }
}

fn symbol(currency: &str) -> Option<&'static str> {
    Some(match currency {
        "usd" => "$",
        "eur" => "€",
        "gbp" => "£",
        "jpy" => "¥",
        "cad" => "CA$",
        "aud" => "A$",
        "nzd" => "NZ$",
        "chf" => "CHF",
        "sek" => "kr",
        _ => return None,
    })
}

/// Grouping and decimal separators, and where the symbol goes.
struct Style {
    group: &'static str,
    decimal: &'static str,
    /// `true`: "€ 12,00" / "$12.00"; `false`: "12,00 €".
    symbol_first: bool,
    /// Space between symbol and number (narrow no-break where the locale uses one).
    space: &'static str,
}

fn style(locale: &str) -> Style {
    match locale {
        "fr" => Style {
            group: "\u{202f}",
            decimal: ",",
            symbol_first: false,
            space: "\u{a0}",
        },
        "de" | "es" => Style {
            group: ".",
            decimal: ",",
            symbol_first: false,
            space: "\u{a0}",
        },
        "nl" => Style {
            group: ".",
            decimal: ",",
            symbol_first: true,
            space: "\u{a0}",
        },
        _ => Style {
            group: ",",
            decimal: ".",
            symbol_first: true,
            space: "",
        },
    }
}

/// `amount` for a reader of `locale`: "$1,234.50", "1 234,50 €", "€ 1.234,50", "¥1,235".
pub fn money(amount: &Money, locale: &str) -> String {
    let code = amount.currency.as_str();
    let exp = exponent(code);
    let scale = 10i64.pow(exp);
    let minor = amount.amount_minor;
    let (whole, frac) = (
        minor.unsigned_abs() / scale as u64,
        minor.unsigned_abs() % scale as u64,
    );
    let s = style(locale);
    let digits = whole.to_string();
    let mut grouped = String::new();
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            grouped.push_str(s.group);
        }
        grouped.push(ch);
    }
    let number = if exp == 0 {
        grouped
    } else {
        format!("{grouped}{}{frac:0width$}", s.decimal, width = exp as usize)
    };
    let sign = if minor < 0 { "-" } else { "" };
    match symbol(code) {
        // A symbol of letters reads better apart from the number, in every locale.
        Some(sym) if s.symbol_first => {
            let space = if sym.chars().all(|c| c.is_ascii_alphabetic()) {
                "\u{a0}"
            } else {
                s.space
            };
            format!("{sign}{sym}{space}{number}")
        }
        Some(sym) => format!("{sign}{number}{}{sym}", s.space),
        None => format!("{sign}{number}\u{a0}{}", code.to_ascii_uppercase()),
    }
}

const MONTHS: [(&str, [&str; 12]); 5] = [
    (
        "en",
        [
            "January",
            "February",
            "March",
            "April",
            "May",
            "June",
            "July",
            "August",
            "September",
            "October",
            "November",
            "December",
        ],
    ),
    (
        "fr",
        [
            "janvier",
            "février",
            "mars",
            "avril",
            "mai",
            "juin",
            "juillet",
            "août",
            "septembre",
            "octobre",
            "novembre",
            "décembre",
        ],
    ),
    (
        "nl",
        [
            "januari",
            "februari",
            "maart",
            "april",
            "mei",
            "juni",
            "juli",
            "augustus",
            "september",
            "oktober",
            "november",
            "december",
        ],
    ),
    (
        "de",
        [
            "Januar",
            "Februar",
            "März",
            "April",
            "Mai",
            "Juni",
            "Juli",
            "August",
            "September",
            "Oktober",
            "November",
            "Dezember",
        ],
    ),
    (
        "es",
        [
            "enero",
            "febrero",
            "marzo",
            "abril",
            "mayo",
            "junio",
            "julio",
            "agosto",
            "septiembre",
            "octubre",
            "noviembre",
            "diciembre",
        ],
    ),
];

/// A date in words: "8 December 2026", "8 décembre 2026", "8. Dezember 2026", "8 de diciembre de 2026".
pub fn date(d: NaiveDate, locale: &str) -> String {
    let months = MONTHS
        .iter()
        .find(|(l, _)| *l == locale)
        .map_or(&MONTHS[0].1, |(_, m)| m);
    let month = months[d.month0() as usize];
    match locale {
        "de" => format!("{}. {month} {}", d.day(), d.year()),
        "es" => format!("{} de {month} de {}", d.day(), d.year()),
        "en" => format!("{month} {}, {}", d.day(), d.year()),
        _ => format!("{} {month} {}", d.day(), d.year()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::money::Currency;

    fn m(minor: i64, cur: &str) -> Money {
        Money::new(minor, Currency::new(cur).unwrap())
    }

    #[test]
    fn amounts_read_as_each_locale_writes_them() {
        assert_eq!(money(&m(123_450, "usd"), "en"), "$1,234.50");
        assert_eq!(money(&m(123_450, "eur"), "fr"), "1\u{202f}234,50\u{a0}€");
        assert_eq!(money(&m(123_450, "eur"), "de"), "1.234,50\u{a0}€");
        assert_eq!(money(&m(123_450, "eur"), "es"), "1.234,50\u{a0}€");
        assert_eq!(money(&m(123_450, "eur"), "nl"), "€\u{a0}1.234,50");
        assert_eq!(money(&m(2500, "gbp"), "en"), "£25.00");
        assert_eq!(money(&m(1235, "jpy"), "en"), "¥1,235", "no minor unit");
        assert_eq!(money(&m(12_345, "kwd"), "en"), "12.345\u{a0}KWD");
        assert_eq!(money(&m(999, "chf"), "en"), "CHF\u{a0}9.99");
        assert_eq!(money(&m(5, "usd"), "en"), "$0.05");
        assert_eq!(money(&m(100_000_000, "usd"), "en"), "$1,000,000.00");
    }

    #[test]
    fn dates_in_words() {
        let d = NaiveDate::from_ymd_opt(2026, 12, 8).unwrap();
        assert_eq!(date(d, "en"), "December 8, 2026");
        assert_eq!(date(d, "fr"), "8 décembre 2026");
        assert_eq!(date(d, "nl"), "8 december 2026");
        assert_eq!(date(d, "de"), "8. Dezember 2026");
        assert_eq!(date(d, "es"), "8 de diciembre de 2026");
    }
}
