//! User keys of tasks and the map between keys and dense task ids.

use std::collections::hash_map::Entry;
use std::fmt;

use rustc_hash::FxHashMap;

/// A task's user key: an integer or a string.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(untagged)]
pub enum Key {
    Int(i64),
    Str(Box<str>),
}

/// A borrowed key, for look-ups that must not allocate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyRef<'a> {
    Int(i64),
    Str(&'a str),
}

impl Key {
    pub fn as_ref(&self) -> KeyRef<'_> {
        match self {
            Key::Int(i) => KeyRef::Int(*i),
            Key::Str(s) => KeyRef::Str(s),
        }
    }
}

impl KeyRef<'_> {
    pub fn to_owned(self) -> Key {
        match self {
            KeyRef::Int(i) => Key::Int(i),
            KeyRef::Str(s) => Key::Str(s.into()),
        }
    }
}

impl From<i64> for Key {
    fn from(i: i64) -> Self {
        Key::Int(i)
    }
}

impl From<&str> for Key {
    fn from(s: &str) -> Self {
        Key::Str(s.into())
    }
}

/// Keys print as Python would show them, so messages read the same on both sides.
impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.as_ref(), f)
    }
}

impl fmt::Display for KeyRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyRef::Int(i) => write!(f, "{i}"),
            KeyRef::Str(s) => write!(f, "'{}'", s.escape_default()),
        }
    }
}

/// Maps keys to dense ids `0..len`.
///
/// While every key so far is the integer equal to its id (the common case of
/// `add_tasks(range(n))`), no map is kept at all: look-ups are a bounds check.
/// The first other key materialises the maps.
#[derive(Clone, Debug, Default)]
pub(crate) struct KeyIndex {
    len: u32,
    identity: bool,
    keys: Vec<Key>,
    ints: FxHashMap<i64, u32>,
    strs: FxHashMap<Box<str>, u32>,
}

impl KeyIndex {
    pub fn new() -> Self {
        KeyIndex {
            identity: true,
            ..Default::default()
        }
    }

    pub fn len(&self) -> usize {
        self.len as usize
    }

    /// True while every key equals its id.
    pub fn is_identity(&self) -> bool {
        self.identity
    }

    pub fn get(&self, key: KeyRef<'_>) -> Option<u32> {
        match key {
            KeyRef::Int(i) if self.identity => (0..i64::from(self.len)).contains(&i).then_some(i as u32),
            KeyRef::Int(i) => self.ints.get(&i).copied(),
            KeyRef::Str(_) if self.identity => None,
            KeyRef::Str(s) => self.strs.get(s).copied(),
        }
    }

    pub fn key(&self, id: u32) -> KeyRef<'_> {
        if self.identity {
            KeyRef::Int(i64::from(id))
        } else {
            self.keys[id as usize].as_ref()
        }
    }

    /// Adds a key and returns its id; `None` if the key is already present.
    pub fn insert(&mut self, key: KeyRef<'_>) -> Option<u32> {
        let id = self.len;
        if self.identity {
            if key == KeyRef::Int(i64::from(id)) {
                self.len += 1;
                return Some(id);
            }
            if self.get(key).is_some() {
                return None;
            }
            self.materialise();
        }
        let fresh = match key {
            KeyRef::Int(i) => match self.ints.entry(i) {
                Entry::Occupied(_) => false,
                Entry::Vacant(slot) => {
                    slot.insert(id);
                    true
                }
            },
            KeyRef::Str(s) => {
                if self.strs.contains_key(s) {
                    false
                } else {
                    self.strs.insert(s.into(), id);
                    true
                }
            }
        };
        if !fresh {
            return None;
        }
        self.keys.push(key.to_owned());
        self.len += 1;
        Some(id)
    }

    /// Forgets every key with id `>= len` (rolls back a failed batch).
    pub fn truncate(&mut self, len: usize) {
        if len >= self.len() {
            return;
        }
        if !self.identity {
            for key in self.keys.drain(len..) {
                match key {
                    Key::Int(i) => {
                        self.ints.remove(&i);
                    }
                    Key::Str(s) => {
                        self.strs.remove(&s);
                    }
                }
            }
        }
        self.len = len as u32;
    }

    fn materialise(&mut self) {
        self.identity = false;
        self.keys = (0..i64::from(self.len)).map(Key::Int).collect();
        self.ints = (0..self.len).map(|i| (i64::from(i), i)).collect();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_until_another_key_arrives() {
        let mut ix = KeyIndex::new();
        assert_eq!(ix.insert(KeyRef::Int(0)), Some(0));
        assert_eq!(ix.insert(KeyRef::Int(1)), Some(1));
        assert!(ix.is_identity());
        assert_eq!(ix.insert(KeyRef::Int(1)), None);
        assert_eq!(ix.insert(KeyRef::Str("a")), Some(2));
        assert!(!ix.is_identity());
        assert_eq!(ix.get(KeyRef::Int(1)), Some(1));
        assert_eq!(ix.get(KeyRef::Str("a")), Some(2));
        assert_eq!(ix.insert(KeyRef::Str("a")), None);
        assert_eq!(ix.key(2), KeyRef::Str("a"));
    }

    #[test]
    fn truncate_forgets_keys() {
        let mut ix = KeyIndex::new();
        ix.insert(KeyRef::Str("a"));
        ix.insert(KeyRef::Int(-5));
        ix.truncate(1);
        assert_eq!(ix.get(KeyRef::Int(-5)), None);
        assert_eq!(ix.insert(KeyRef::Int(-5)), Some(1));
    }

    #[test]
    fn keys_display_like_python() {
        assert_eq!(Key::from("a'b").to_string(), "'a\\'b'");
        assert_eq!(Key::from(-3).to_string(), "-3");
    }
}
