//! Lenient fields for miniserde views of Stripe's answers: a missing field, a null, or a value of an
//! unexpected type reads as `None` instead of failing the whole answer. A decline whose error object
//! gained a field, or whose `payment_intent` came as an id, must still read as that decline: an
//! unreadable one would leave the charge's outcome uncertain.
//!
//! Skipped values are walked with miniserde's own `ignore`, so a view reads only what it names.

use miniserde::Result;
use miniserde::de::{Deserialize, Map, Seq, Visitor};

miniserde::make_place!(Place);

/// A string: numbers and booleans are written out; an empty string, a null, an object or a list
/// read as `None`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Str(pub Option<String>);

/// An integer, also from a numeric string.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Int(pub Option<i64>);

/// A nested object read as `T`; anything else (an id where the object was not expanded, a null)
/// reads as `None`. `T`'s own fields should be lenient too.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Obj<T>(pub Option<T>);

/// A list of strings (read as [`Str`]: objects, lists and nulls among the items are left out); a
/// value that is not a list reads as empty.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Strs(pub Vec<String>);

impl Str {
    pub fn get(&self) -> Option<&str> {
        self.0.as_deref()
    }
}

fn ignore_seq<'a>() -> Result<Box<dyn Seq + 'a>> {
    <dyn Visitor>::ignore().seq()
}

fn ignore_map<'a>() -> Result<Box<dyn Map + 'a>> {
    <dyn Visitor>::ignore().map()
}

/// `Visitor` methods for every scalar, each reading as the visitor's `null`: for a field that wants
/// an object or a list.
macro_rules! scalars_read_as_null {
    () => {
        fn boolean(&mut self, _: bool) -> Result<()> {
            self.null()
        }
        fn string(&mut self, _: &str) -> Result<()> {
            self.null()
        }
        fn negative(&mut self, _: i64) -> Result<()> {
            self.null()
        }
        fn nonnegative(&mut self, _: u64) -> Result<()> {
            self.null()
        }
        fn float(&mut self, _: f64) -> Result<()> {
            self.null()
        }
    };
}

impl Visitor for Place<Str> {
    fn null(&mut self) -> Result<()> {
        self.out = Some(Str(None));
        Ok(())
    }
    fn boolean(&mut self, b: bool) -> Result<()> {
        self.out = Some(Str(Some(b.to_string())));
        Ok(())
    }
    fn string(&mut self, s: &str) -> Result<()> {
        self.out = Some(Str((!s.is_empty()).then(|| s.to_owned())));
        Ok(())
    }
    fn negative(&mut self, n: i64) -> Result<()> {
        self.out = Some(Str(Some(n.to_string())));
        Ok(())
    }
    fn nonnegative(&mut self, n: u64) -> Result<()> {
        self.out = Some(Str(Some(n.to_string())));
        Ok(())
    }
    fn float(&mut self, n: f64) -> Result<()> {
        self.out = Some(Str(Some(n.to_string())));
        Ok(())
    }
    fn seq(&mut self) -> Result<Box<dyn Seq + '_>> {
        self.out = Some(Str(None));
        ignore_seq()
    }
    fn map(&mut self) -> Result<Box<dyn Map + '_>> {
        self.out = Some(Str(None));
        ignore_map()
    }
}

impl Deserialize for Str {
    fn begin(out: &mut Option<Self>) -> &mut dyn Visitor {
        Place::new(out)
    }
    fn default() -> Option<Self> {
        Some(Str(None))
    }
}

impl Visitor for Place<Int> {
    fn null(&mut self) -> Result<()> {
        self.out = Some(Int(None));
        Ok(())
    }
    fn boolean(&mut self, _: bool) -> Result<()> {
        self.null()
    }
    fn string(&mut self, s: &str) -> Result<()> {
        self.out = Some(Int(s.trim().parse().ok()));
        Ok(())
    }
    fn negative(&mut self, n: i64) -> Result<()> {
        self.out = Some(Int(Some(n)));
        Ok(())
    }
    fn nonnegative(&mut self, n: u64) -> Result<()> {
        self.out = Some(Int(i64::try_from(n).ok()));
        Ok(())
    }
    fn float(&mut self, n: f64) -> Result<()> {
        let whole = (n.fract() == 0.0 && n.abs() < 9.0e15).then_some(n as i64);
        self.out = Some(Int(whole));
        Ok(())
    }
    fn seq(&mut self) -> Result<Box<dyn Seq + '_>> {
        self.out = Some(Int(None));
        ignore_seq()
    }
    fn map(&mut self) -> Result<Box<dyn Map + '_>> {
        self.out = Some(Int(None));
        ignore_map()
    }
}

impl Deserialize for Int {
    fn begin(out: &mut Option<Self>) -> &mut dyn Visitor {
        Place::new(out)
    }
    fn default() -> Option<Self> {
        Some(Int(None))
    }
}

impl<T: Deserialize> Visitor for Place<Obj<T>> {
    fn null(&mut self) -> Result<()> {
        self.out = Some(Obj(None));
        Ok(())
    }
    scalars_read_as_null!();
    fn seq(&mut self) -> Result<Box<dyn Seq + '_>> {
        self.out = Some(Obj(None));
        ignore_seq()
    }
    fn map(&mut self) -> Result<Box<dyn Map + '_>> {
        let Obj(slot) = self.out.insert(Obj(None));
        T::begin(slot).map()
    }
}

impl<T: Deserialize> Deserialize for Obj<T> {
    fn begin(out: &mut Option<Self>) -> &mut dyn Visitor {
        Place::new(out)
    }
    fn default() -> Option<Self> {
        Some(Obj(None))
    }
}

/// Collects the string items of a list.
struct StrsSeq<'a> {
    out: &'a mut Vec<String>,
    item: Option<Str>,
}

impl StrsSeq<'_> {
    fn take(&mut self) {
        if let Some(Str(Some(s))) = self.item.take() {
            self.out.push(s);
        }
    }
}

impl Seq for StrsSeq<'_> {
    fn element(&mut self) -> Result<&mut dyn Visitor> {
        self.take();
        Ok(Str::begin(&mut self.item))
    }
    fn finish(&mut self) -> Result<()> {
        self.take();
        Ok(())
    }
}

impl Visitor for Place<Strs> {
    fn null(&mut self) -> Result<()> {
        self.out = Some(Strs(Vec::new()));
        Ok(())
    }
    scalars_read_as_null!();
    fn seq(&mut self) -> Result<Box<dyn Seq + '_>> {
        let Strs(out) = self.out.insert(Strs(Vec::new()));
        Ok(Box::new(StrsSeq { out, item: None }))
    }
    fn map(&mut self) -> Result<Box<dyn Map + '_>> {
        self.out = Some(Strs(Vec::new()));
        ignore_map()
    }
}

impl Deserialize for Strs {
    fn begin(out: &mut Option<Self>) -> &mut dyn Visitor {
        Place::new(out)
    }
    fn default() -> Option<Self> {
        Some(Strs(Vec::new()))
    }
}
