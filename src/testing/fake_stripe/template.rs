//! JSON answers written as text with holes (`{{name}}`), compiled once and filled per answer.
//!
//! The fake's large answers (an invoice, a card error) used to be built as `serde_json::Value` trees,
//! serialised and dropped for every answer that changed: hundreds of small allocations and sorted-map
//! inserts each, which on the benchmark's machine took CPU from the service it measures. A template
//! is the answer's text cut at its holes; filling it copies the text and writes each value.
//!
//! Insignificant whitespace is removed when compiling, so the template can be laid out like Stripe's
//! own fixtures. A hole outside a string takes a whole JSON value; a hole inside a string literal
//! (`"il_{{suffix}}"`) takes text or a number, written escaped without quotes.

/// What fills a hole.
pub(super) enum Fill<'a> {
    Str(&'a str),
    OptStr(Option<&'a str>),
    Int(i64),
    OptInt(Option<i64>),
    Bool(bool),
    /// JSON text written as it is (outside strings only): a value rendered by another template, or
    /// an object's members.
    Raw(&'a str),
}

enum Piece {
    Text(String),
    Hole { index: usize, in_string: bool },
}

pub(super) struct Template {
    pieces: Vec<Piece>,
    /// Bytes of text, to size the output once.
    text_len: usize,
}

impl Template {
    /// Compiles `text`, whose holes must each be one of `names`: a fill is given per name, in order.
    /// Panics on an unknown hole or an unclosed one: templates are constants of this module's
    /// callers, so a mistake shows in the first test that renders it.
    pub(super) fn new(text: &str, names: &[&str]) -> Template {
        let mut pieces = Vec::new();
        let mut current = String::new();
        let mut in_string = false;
        let mut escaped = false;
        let mut rest = text;
        while let Some(c) = rest.chars().next() {
            if rest.starts_with("{{") {
                let end = rest
                    .find("}}")
                    .unwrap_or_else(|| panic!("unclosed hole in template at {rest:.40}"));
                let name = &rest[2..end];
                let index = names.iter().position(|n| *n == name).unwrap_or_else(|| {
                    panic!("template hole {{{{{name}}}}} is not among {names:?}")
                });
                if !current.is_empty() {
                    pieces.push(Piece::Text(std::mem::take(&mut current)));
                }
                pieces.push(Piece::Hole { index, in_string });
                rest = &rest[end + 2..];
                continue;
            }
            rest = &rest[c.len_utf8()..];
            if in_string {
                current.push(c);
                match (escaped, c) {
                    (true, _) => escaped = false,
                    (false, '\\') => escaped = true,
                    (false, '"') => in_string = false,
                    _ => {}
                }
            } else if c == '"' {
                in_string = true;
                current.push(c);
            } else if !c.is_whitespace() {
                current.push(c);
            }
        }
        if !current.is_empty() {
            pieces.push(Piece::Text(current));
        }
        let text_len = pieces
            .iter()
            .map(|p| match p {
                Piece::Text(t) => t.len(),
                Piece::Hole { .. } => 0,
            })
            .sum();
        Template { pieces, text_len }
    }

    /// The template with `fills[i]` in each hole named `names[i]`.
    pub(super) fn render(&self, fills: &[Fill<'_>]) -> String {
        let mut out = String::with_capacity(self.text_len + 32 * fills.len());
        for piece in &self.pieces {
            match piece {
                Piece::Text(t) => out.push_str(t),
                Piece::Hole { index, in_string } => {
                    write_fill(&mut out, &fills[*index], *in_string)
                }
            }
        }
        out
    }
}

fn write_fill(out: &mut String, fill: &Fill<'_>, in_string: bool) {
    use std::fmt::Write;
    match (fill, in_string) {
        (Fill::Str(s) | Fill::OptStr(Some(s)), true) => escape_into(out, s),
        (Fill::Str(s) | Fill::OptStr(Some(s)), false) => {
            out.push('"');
            escape_into(out, s);
            out.push('"');
        }
        (Fill::Int(n) | Fill::OptInt(Some(n)), _) => {
            let _ = write!(out, "{n}");
        }
        (Fill::OptStr(None) | Fill::OptInt(None), false) => out.push_str("null"),
        (Fill::Bool(b), false) => out.push_str(if *b { "true" } else { "false" }),
        (Fill::Raw(json), false) => out.push_str(json),
        (Fill::OptStr(None) | Fill::OptInt(None) | Fill::Bool(_) | Fill::Raw(_), true) => {
            panic!("a null, a boolean or raw JSON cannot fill a hole inside a string")
        }
    }
}

/// JSON string escaping (RFC 8259): quote, backslash and control characters.
fn escape_into(out: &mut String, s: &str) {
    use std::fmt::Write;
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    #[test]
    fn holes_take_values_outside_strings_and_escaped_text_inside_them() {
        let t = Template::new(
            r#"{ "id": {{id}}, "url": "/v1/x/{{id}}/y", "n": {{n}}, "s": "{{n}}",
                 "none": {{none}}, "b": {{b}}, "raw": {{raw}}, "text with  spaces": "a  b" }"#,
            &["id", "n", "none", "b", "raw"],
        );
        let text = t.render(&[
            Fill::Str("in_\"1\\\n"),
            Fill::Int(-42),
            Fill::OptInt(None),
            Fill::Bool(true),
            Fill::Raw(r#"{"k":[1,2]}"#),
        ]);
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            v,
            json!({"id": "in_\"1\\\n", "url": "/v1/x/in_\"1\\\n/y", "n": -42, "s": "-42",
                   "none": null, "b": true, "raw": {"k": [1, 2]}, "text with  spaces": "a  b"})
        );
        // Whitespace outside strings is gone; inside them it stays.
        assert!(text.starts_with(r#"{"id":"#), "{text}");
        assert!(text.contains(r#""a  b""#), "{text}");
    }

    #[test]
    #[should_panic(expected = "is not among")]
    fn an_unknown_hole_is_refused() {
        Template::new(r#"{"a": {{b}}}"#, &["a"]);
    }
}
