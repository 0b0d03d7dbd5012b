//! Keys derived from `DUNNING_SECRET`: encryption of processor secrets at rest, hashing of API keys,
//! and random token generation. Nothing here ever logs or formats a secret.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hkdf::Hkdf;
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

/// Holds the keys derived from the service secret. Cloning is cheap; `Debug` shows nothing.
#[derive(Clone)]
pub struct Keys {
    encryption: [u8; 32],
    link_signing: [u8; 32],
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keys([redacted])")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error(
        "stored secret could not be decrypted: DUNNING_SECRET differs from the one it was encrypted with"
    )]
    Decrypt,
    #[error("stored secret is malformed")]
    Malformed,
}

impl Keys {
    pub fn derive(secret: &SecretString) -> Self {
        let hk = Hkdf::<Sha256>::new(Some(b"dunning/v1"), secret.expose_secret().as_bytes());
        let mut encryption = [0u8; 32];
        let mut link_signing = [0u8; 32];
        hk.expand(b"encryption", &mut encryption)
            .expect("32 bytes is a valid HKDF length");
        hk.expand(b"link-signing", &mut link_signing)
            .expect("32 bytes is a valid HKDF length");
        Keys {
            encryption,
            link_signing,
        }
    }

    /// Key for signing customer links (card-update pages).
    pub fn link_signing_key(&self) -> &[u8; 32] {
        &self.link_signing
    }

    /// Encrypts with XChaCha20-Poly1305 and a random nonce; output is `v1.<base64url(nonce|ciphertext)>`.
    pub fn encrypt(&self, plaintext: &str) -> String {
        let cipher = XChaCha20Poly1305::new((&self.encryption).into());
        let mut nonce = [0u8; 24];
        rand::rng().fill_bytes(&mut nonce);
        let ct = cipher
            .encrypt(XNonce::from_slice(&nonce), plaintext.as_bytes())
            .expect("encryption of an in-memory buffer cannot fail");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&ct);
        format!("v1.{}", URL_SAFE_NO_PAD.encode(out))
    }

    pub fn decrypt(&self, stored: &str) -> Result<SecretString, CryptoError> {
        let body = stored.strip_prefix("v1.").ok_or(CryptoError::Malformed)?;
        let raw = URL_SAFE_NO_PAD
            .decode(body)
            .map_err(|_| CryptoError::Malformed)?;
        if raw.len() < 24 + 16 {
            return Err(CryptoError::Malformed);
        }
        let (nonce, ct) = raw.split_at(24);
        let cipher = XChaCha20Poly1305::new((&self.encryption).into());
        let pt = cipher
            .decrypt(XNonce::from_slice(nonce), ct)
            .map_err(|_| CryptoError::Decrypt)?;
        String::from_utf8(pt)
            .map(SecretString::from)
            .map_err(|_| CryptoError::Malformed)
    }

    /// A value that changes with the secret, stored once so a start with a different secret is caught.
    pub fn check_value(&self) -> String {
        hex::encode(Sha256::digest([&self.encryption[..], b"check"].concat()))
    }
}

/// Random URL-safe token with `prefix`, e.g. `dk_live_…` for tenant API keys.
pub fn random_token(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// API keys and the admin token are 256-bit random values, so a fast hash is enough to store them.
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Constant-time comparison of two token hashes.
pub fn same_hash(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(s: &str) -> Keys {
        Keys::derive(&SecretString::from(s.to_string()))
    }

    #[test]
    fn encryption_round_trips_and_is_randomised() {
        let k = keys("a-secret-that-is-long-enough-for-tests-0001");
        let a = k.encrypt("sk_test_123");
        let b = k.encrypt("sk_test_123");
        assert_ne!(a, b, "nonces must differ");
        assert!(!a.contains("sk_test"));
        assert_eq!(k.decrypt(&a).unwrap().expose_secret(), "sk_test_123");
    }

    #[test]
    fn wrong_secret_or_tampering_is_refused() {
        let a = keys("a-secret-that-is-long-enough-for-tests-0001").encrypt("sk_test_123");
        let other = keys("another-secret-that-is-long-enough-000002");
        assert!(matches!(other.decrypt(&a), Err(CryptoError::Decrypt)));
        let mut tampered = a.clone();
        tampered.push('A');
        assert!(
            keys("a-secret-that-is-long-enough-for-tests-0001")
                .decrypt(&tampered)
                .is_err()
        );
        assert!(matches!(
            other.decrypt("plain"),
            Err(CryptoError::Malformed)
        ));
    }

    #[test]
    fn tokens_are_random_and_hashes_compare() {
        let t1 = random_token("dk_");
        assert!(t1.starts_with("dk_") && t1.len() > 40);
        assert_ne!(t1, random_token("dk_"));
        assert!(same_hash(&hash_token(&t1), &hash_token(&t1)));
        assert!(!same_hash(&hash_token(&t1), &hash_token("dk_other")));
    }
}
