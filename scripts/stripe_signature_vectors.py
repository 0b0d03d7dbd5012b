#!/usr/bin/env python3
"""Signature test vectors made by Stripe's official Python library, checked by our Rust verifier.

Regenerate (from the repository root):
    python3 -m venv /tmp/stripe-venv && /tmp/stripe-venv/bin/pip install stripe
    /tmp/stripe-venv/bin/python scripts/stripe_signature_vectors.py > fixtures/stripe/signature_vectors.json
then run `cargo test --lib providers::stripe::signature`.

Each header is built with `stripe.WebhookSignature.generate_signature_header` (which calls the library's
own `_compute_signature`) and checked back with `stripe.Webhook.construct_event`. The last vector's header
is made the way our Rust `sign` makes it and must also pass the library's check.
"""
import hashlib
import hmac
import json
import pathlib
import sys

import stripe

ROOT = pathlib.Path(__file__).resolve().parent.parent
SECRET = "whsec_test_5ZyL0eQmS3kq1Jx0Hc8o2N7Wv"


def payloads():
    fixture = (ROOT / "fixtures/stripe/invoice.payment_failed.json").read_text(encoding="utf-8")
    yield "fixture_invoice_payment_failed", fixture, SECRET, 1744711203
    unicode_body = json.dumps(
        {"id": "evt_unicode", "object": "event", "type": "customer.updated",
         "data": {"object": {"id": "cus_S2pQ7LmVt9KdE4", "name": "Zoë Ångström — 東京 🚀"}}},
        ensure_ascii=False,
    )
    yield "unicode_body", unicode_body, SECRET, 1744801205
    yield "minimal_body", '{"id":"evt_1","object":"event","type":"ping"}', "whsec_rotated_Qm8Vn2Lp7Rt4", 1700000000
    yield "empty_body", "", SECRET, 1


def our_format(payload: str, secret: str, timestamp: int) -> str:
    """What src/providers/stripe/signature.rs `sign` produces, computed independently of the library."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + payload.encode("utf-8"), hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def main() -> None:
    vectors = []
    for name, payload, secret, timestamp in payloads():
        header = stripe.WebhookSignature.generate_signature_header(payload, secret, timestamp=timestamp)
        expected = stripe.WebhookSignature._compute_signature(f"{timestamp}.{payload}", secret)
        assert header == f"t={timestamp},v1={expected}", name
        vectors.append({"name": name, "payload": payload, "secret": secret, "timestamp": timestamp, "header": header})

    # Our header format, accepted by the library (tolerance=None skips its clock check for old vectors).
    payload = '{"id":"evt_ours","object":"event","type":"invoice.paid","data":{"object":{}}}'
    header = our_format(payload, SECRET, 1744801803)
    stripe.Webhook.construct_event(payload, header, SECRET, tolerance=None)
    vectors.append({"name": "our_format_accepted_by_library", "payload": payload, "secret": SECRET,
                    "timestamp": 1744801803, "header": header})
    for v in vectors:
        stripe.WebhookSignature.verify_header(v["payload"], v["header"], v["secret"], tolerance=None)
        if v["payload"]:  # construct_event also parses the body as JSON
            stripe.Webhook.construct_event(v["payload"], v["header"], v["secret"], tolerance=None)

    json.dump({"generated_by": f"stripe-python {stripe.VERSION}, scripts/stripe_signature_vectors.py",
               "vectors": vectors}, sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
