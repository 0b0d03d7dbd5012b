//! Stripe's error object, as the client reads it: the fields it acts on, each lenient (see
//! [`super::lenient`]). async-stripe's typed `ApiErrors` carries a whole payment intent, payment
//! method and source, builds them field by field, and fails on any field that drifts; a decline
//! body is read on every declined charge.

use super::lenient::{Int, Obj, Str, Strs};

/// An error answer's body: `{"error": {...}}`.
#[derive(Debug, Default, miniserde::Deserialize)]
pub struct ErrorBody {
    pub error: Obj<ApiError>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, miniserde::Deserialize)]
pub struct ApiError {
    #[serde(rename = "type")]
    pub type_: Str,
    pub code: Str,
    pub decline_code: Str,
    pub advice_code: Str,
    pub network_advice_code: Str,
    pub network_decline_code: Str,
    pub message: Str,
    pub request_log_url: Str,
    pub payment_method: Obj<PaymentMethod>,
    pub payment_intent: Obj<PaymentIntent>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, miniserde::Deserialize)]
pub struct PaymentIntent {
    /// The decline, when Stripe reports it here rather than on the error itself.
    pub last_payment_error: Obj<Box<ApiError>>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, miniserde::Deserialize)]
pub struct PaymentMethod {
    pub id: Str,
    pub card: Obj<Card>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, miniserde::Deserialize)]
pub struct Card {
    pub brand: Str,
    pub last4: Str,
    pub exp_month: Int,
    pub exp_year: Int,
    pub fingerprint: Str,
    pub networks: Obj<Networks>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, miniserde::Deserialize)]
pub struct Networks {
    pub preferred: Str,
    pub available: Strs,
}

impl ApiError {
    /// Reads an error answer's body; `None` when it is not JSON with an `error` object.
    pub fn parse(body: &[u8]) -> Option<Box<ApiError>> {
        let text = std::str::from_utf8(body).ok()?;
        let body: ErrorBody = miniserde::json::from_str(text).ok()?;
        body.error.0.map(Box::new)
    }

    pub fn code(&self) -> Option<&str> {
        self.code.get()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_decline_with_its_card() {
        let body = br#"{"error": {"type": "card_error", "code": "card_declined",
            "decline_code": "insufficient_funds", "message": "Your card has insufficient funds.",
            "payment_method": {"id": "pm_1", "object": "payment_method", "card": {"brand": "visa",
              "last4": "4242", "exp_month": 12, "exp_year": 2030, "fingerprint": "fp_1",
              "networks": {"available": ["visa"], "preferred": null}, "checks": {"cvc_check": "pass"}}},
            "request_log_url": "https://dashboard.stripe.com/logs/req_1", "extra": [1, {"a": null}]}}"#;
        let e = ApiError::parse(body).expect("an error object");
        assert_eq!(e.type_.get(), Some("card_error"));
        assert_eq!(e.code(), Some("card_declined"));
        assert_eq!(e.decline_code.get(), Some("insufficient_funds"));
        let pm = e.payment_method.0.as_ref().expect("payment method");
        assert_eq!(pm.id.get(), Some("pm_1"));
        let card = pm.card.0.as_ref().expect("card");
        assert_eq!(card.exp_month, Int(Some(12)));
        assert_eq!(card.last4.get(), Some("4242"));
        let networks = card.networks.0.as_ref().expect("networks");
        assert_eq!(networks.available, Strs(vec!["visa".into()]));
        assert_eq!(networks.preferred, Str(None));
    }

    #[test]
    fn fields_of_an_unexpected_shape_read_as_absent_not_as_an_unreadable_answer() {
        // An id where an object was expected, a number where a string was, an object where a
        // number was: the rest of the decline still reads.
        let body =
            br#"{"error": {"type": "card_error", "code": 402, "decline_code": "do_not_honor",
            "payment_method": "pm_2", "payment_intent": {"id": "pi_1",
              "last_payment_error": {"advice_code": "try_again_later", "payment_method": {"card": {
                "exp_month": {"m": 1}, "exp_year": "2031", "networks": "visa"}}}},
            "message": null, "advice_code": ["x"]}}"#;
        let e = ApiError::parse(body).expect("an error object");
        assert_eq!(e.code(), Some("402"));
        assert_eq!(e.decline_code.get(), Some("do_not_honor"));
        assert_eq!(e.payment_method, Obj(None));
        assert_eq!(e.message, Str(None));
        assert_eq!(e.advice_code, Str(None));
        let last = e
            .payment_intent
            .0
            .as_ref()
            .and_then(|pi| pi.last_payment_error.0.as_ref());
        let last = last.expect("the intent's last error");
        assert_eq!(last.advice_code.get(), Some("try_again_later"));
        let card = last
            .payment_method
            .0
            .as_ref()
            .and_then(|pm| pm.card.0.as_ref())
            .unwrap();
        assert_eq!(card.exp_month, Int(None));
        assert_eq!(card.exp_year, Int(Some(2031)));
        assert_eq!(card.networks, Obj(None));
    }

    #[test]
    fn a_body_without_an_error_object_is_not_an_error() {
        assert!(ApiError::parse(b"<html>502 Bad Gateway</html>").is_none());
        assert!(ApiError::parse(br#"{"error": "nope"}"#).is_none());
        assert!(ApiError::parse(br#"{"id": "in_1"}"#).is_none());
        assert!(ApiError::parse(b"{\"error\": {\"code\": \"x\"").is_none());
    }
}
