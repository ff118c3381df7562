//! Ed25519 signatures in minisign's format, so that `minisign -V` checks what
//! `symphony kit sign` writes and the other way round.
//!
//! Signatures are minisign's pre-hashed kind (`ED`): Ed25519 over the BLAKE2b-512
//! digest of the file, plus a global signature over that signature and the
//! trusted comment, which is how `name@version` is bound to the bytes. Secret
//! keys are written unencrypted (minisign's `-W`); the file is the secret.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use blake2::{Blake2b512, Digest};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};

use crate::KitError;

const ALG_ED: &[u8; 2] = b"Ed";
const ALG_PREHASHED: &[u8; 2] = b"ED";
const KDF_NONE: [u8; 2] = [0, 0];
const CHECKSUM_B2: &[u8; 2] = b"B2";

/// A key pair as minisign writes it: `public` and `secret` are whole files.
pub struct KeyPair {
    pub key_id: String,
    pub public: String,
    pub secret: String,
}

/// minisign shows a key id as the little-endian number its 8 bytes spell.
fn show_id(id: &[u8; 8]) -> String {
    format!("{:016X}", u64::from_le_bytes(*id))
}

fn random<const N: usize>() -> Result<[u8; N], KitError> {
    let mut buf = [0u8; N];
    getrandom::fill(&mut buf).map_err(|e| KitError::Signature(format!("no randomness for a key: {e}")))?;
    Ok(buf)
}

pub fn keygen() -> Result<KeyPair, KitError> {
    let seed: [u8; 32] = random()?;
    let id: [u8; 8] = random()?;
    let signing = SigningKey::from_bytes(&seed);
    let public = signing.verifying_key().to_bytes();

    let mut pk = Vec::with_capacity(42);
    pk.extend_from_slice(ALG_ED);
    pk.extend_from_slice(&id);
    pk.extend_from_slice(&public);

    // libsodium's secret key: the seed, then the public key.
    let mut sk64 = [0u8; 64];
    sk64[..32].copy_from_slice(&seed);
    sk64[32..].copy_from_slice(&public);
    let mut checksum = blake2::Blake2b::<blake2::digest::consts::U32>::new();
    checksum.update(ALG_ED);
    checksum.update(id);
    checksum.update(sk64);
    let mut sk = Vec::with_capacity(158);
    sk.extend_from_slice(ALG_ED);
    sk.extend_from_slice(&KDF_NONE);
    sk.extend_from_slice(CHECKSUM_B2);
    sk.extend_from_slice(&[0u8; 32]); // kdf salt
    sk.extend_from_slice(&0u64.to_le_bytes()); // kdf opslimit
    sk.extend_from_slice(&0u64.to_le_bytes()); // kdf memlimit
    sk.extend_from_slice(&id);
    sk.extend_from_slice(&sk64);
    sk.extend_from_slice(&checksum.finalize());

    let key_id = show_id(&id);
    Ok(KeyPair {
        public: format!("untrusted comment: minisign public key {key_id}\n{}\n", B64.encode(pk)),
        secret: format!("untrusted comment: minisign secret key {key_id}\n{}\n", B64.encode(sk)),
        key_id,
    })
}

/// The base64 line of a minisign file: the first line that is not a comment.
fn payload<'a>(text: &'a str, what: &str) -> Result<&'a str, KitError> {
    let mut lines = text.lines().map(str::trim);
    let first = lines.next().unwrap_or("");
    if !first.starts_with("untrusted comment:") {
        return Err(KitError::Signature(format!(
            "not a minisign {what}: the first line is not an untrusted comment"
        )));
    }
    lines
        .next()
        .filter(|l| !l.is_empty())
        .ok_or_else(|| KitError::Signature(format!("not a minisign {what}: no key line")))
}

fn decode(line: &str, what: &str) -> Result<Vec<u8>, KitError> {
    B64.decode(line)
        .map_err(|e| KitError::Signature(format!("the {what} is not valid base64: {e}")))
}

/// A public key: its id and the Ed25519 key. Accepts a whole `.pub` file or
/// its base64 line alone, as `minisign -P` does.
pub fn public_key(text: &str) -> Result<([u8; 8], VerifyingKey), KitError> {
    let line = if text.trim_start().starts_with("untrusted comment:") {
        payload(text, "public key")?
    } else {
        text.trim()
    };
    let raw = decode(line, "public key")?;
    if raw.len() != 42 || &raw[..2] != ALG_ED {
        return Err(KitError::Signature(format!(
            "not a minisign Ed25519 public key ({} bytes)",
            raw.len()
        )));
    }
    let id: [u8; 8] = raw[2..10].try_into().expect("8 bytes");
    let key: [u8; 32] = raw[10..].try_into().expect("32 bytes");
    let key = VerifyingKey::from_bytes(&key)
        .map_err(|e| KitError::Signature(format!("the public key is not a valid point: {e}")))?;
    Ok((id, key))
}

fn secret_key(text: &str) -> Result<([u8; 8], SigningKey), KitError> {
    let raw = decode(payload(text, "secret key")?, "secret key")?;
    if raw.len() != 158 || &raw[..2] != ALG_ED || &raw[4..6] != CHECKSUM_B2 {
        return Err(KitError::Signature("not a minisign Ed25519 secret key".to_owned()));
    }
    if raw[2..4] != KDF_NONE {
        return Err(KitError::Signature(
            "the secret key is password-protected; export it unencrypted (minisign -C -W) for symphony kit".to_owned(),
        ));
    }
    let id: [u8; 8] = raw[54..62].try_into().expect("8 bytes");
    let sk64 = &raw[62..126];
    let mut checksum = blake2::Blake2b::<blake2::digest::consts::U32>::new();
    checksum.update(ALG_ED);
    checksum.update(id);
    checksum.update(sk64);
    if checksum.finalize().as_slice() != &raw[126..158] {
        return Err(KitError::Signature(
            "the secret key's checksum does not match: the file is damaged".to_owned(),
        ));
    }
    let seed: [u8; 32] = sk64[..32].try_into().expect("32 bytes");
    Ok((id, SigningKey::from_bytes(&seed)))
}

/// The signature file for `data`, with `trusted` bound into it.
pub fn sign(secret: &str, data: &[u8], trusted: &str, untrusted: &str) -> Result<String, KitError> {
    if trusted.contains('\n') || untrusted.contains('\n') {
        return Err(KitError::Signature("a comment must be one line".to_owned()));
    }
    let (id, key) = secret_key(secret)?;
    let digest = Blake2b512::digest(data);
    let sig = key.sign(&digest).to_bytes();
    let mut line = Vec::with_capacity(74);
    line.extend_from_slice(ALG_PREHASHED);
    line.extend_from_slice(&id);
    line.extend_from_slice(&sig);
    let mut global = Vec::with_capacity(64 + trusted.len());
    global.extend_from_slice(&sig);
    global.extend_from_slice(trusted.as_bytes());
    let global = key.sign(&global).to_bytes();
    Ok(format!(
        "untrusted comment: {untrusted}\n{}\ntrusted comment: {trusted}\n{}\n",
        B64.encode(line),
        B64.encode(global)
    ))
}

/// Checks `signature` over `data` with `public`; returns the trusted comment.
pub fn verify(public: &str, data: &[u8], signature: &str) -> Result<String, KitError> {
    let (pk_id, key) = public_key(public)?;
    let mut lines = signature.lines();
    let untrusted = lines.next().unwrap_or("");
    if !untrusted.starts_with("untrusted comment:") {
        return Err(KitError::Signature(
            "not a minisign signature: the first line is not an untrusted comment".to_owned(),
        ));
    }
    let raw = decode(lines.next().unwrap_or("").trim(), "signature")?;
    let trusted = lines
        .next()
        .and_then(|l| l.strip_prefix("trusted comment: "))
        .ok_or_else(|| KitError::Signature("the signature has no trusted comment".to_owned()))?;
    let global = decode(lines.next().unwrap_or("").trim(), "global signature")?;
    if raw.len() != 74 || global.len() != 64 {
        return Err(KitError::Signature("the signature is truncated".to_owned()));
    }
    let id: [u8; 8] = raw[2..10].try_into().expect("8 bytes");
    if id != pk_id {
        return Err(KitError::UnknownKey(format!(
            "signed by key {}, not by the given key {}",
            show_id(&id),
            show_id(&pk_id)
        )));
    }
    let sig = Signature::from_bytes(&raw[10..74].try_into().expect("64 bytes"));
    let ok = match &raw[..2] {
        a if a == ALG_PREHASHED => key.verify_strict(&Blake2b512::digest(data), &sig),
        a if a == ALG_ED => key.verify_strict(data, &sig),
        other => {
            return Err(KitError::Signature(format!(
                "unknown signature algorithm {:?}",
                String::from_utf8_lossy(other)
            )));
        }
    };
    ok.map_err(|_| {
        KitError::Signature("the signature does not match the data: it was changed after signing".to_owned())
    })?;
    let mut bound = raw[10..74].to_vec();
    bound.extend_from_slice(trusted.as_bytes());
    let global = Signature::from_bytes(&global[..].try_into().expect("64 bytes"));
    key.verify_strict(&bound, &global)
        .map_err(|_| KitError::Signature("the trusted comment was changed after signing".to_owned()))?;
    Ok(trusted.to_owned())
}

/// The key id a signature names, to pick its key from a keyring.
pub fn signer(signature: &str) -> Result<String, KitError> {
    let raw = decode(signature.lines().nth(1).unwrap_or("").trim(), "signature")?;
    if raw.len() != 74 {
        return Err(KitError::Signature("the signature is truncated".to_owned()));
    }
    Ok(show_id(&raw[2..10].try_into().expect("8 bytes")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_and_verifies_and_refuses_every_change() {
        let keys = keygen().unwrap();
        let sig = sign(&keys.secret, b"package bytes", "a@1.0.0", "signature from symphony kit").unwrap();
        assert_eq!(verify(&keys.public, b"package bytes", &sig).unwrap(), "a@1.0.0");
        assert_eq!(signer(&sig).unwrap(), keys.key_id);
        assert!(verify(&keys.public, b"package byteS", &sig).is_err());
        let swapped = sig.replace("a@1.0.0", "b@1.0.0");
        assert!(
            verify(&keys.public, b"package bytes", &swapped)
                .unwrap_err()
                .to_string()
                .contains("trusted comment")
        );
        let other = keygen().unwrap();
        assert!(matches!(
            verify(&other.public, b"package bytes", &sig),
            Err(KitError::UnknownKey(_))
        ));
    }
}
