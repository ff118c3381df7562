//! Intrusive doubly linked lists over instance ids, so that taking an idle
//! instance out of the middle of the LRU order costs O(1).

pub const NIL: u32 = u32::MAX;

#[derive(Debug, Clone, Copy)]
pub struct Link {
    pub prev: u32,
    pub next: u32,
}

impl Default for Link {
    fn default() -> Self {
        Link { prev: NIL, next: NIL }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct List {
    pub head: u32,
    pub tail: u32,
    pub len: u32,
}

impl Default for List {
    fn default() -> Self {
        List {
            head: NIL,
            tail: NIL,
            len: 0,
        }
    }
}

impl List {
    #[inline]
    pub fn push_back(&mut self, links: &mut [Link], id: u32) {
        links[id as usize] = Link {
            prev: self.tail,
            next: NIL,
        };
        if self.tail == NIL {
            self.head = id;
        } else {
            links[self.tail as usize].next = id;
        }
        self.tail = id;
        self.len += 1;
    }

    /// Inserts `id` after `after` (`NIL`: at the head).
    pub fn insert_after(&mut self, links: &mut [Link], after: u32, id: u32) {
        if after == self.tail {
            self.push_back(links, id);
            return;
        }
        let next = if after == NIL {
            self.head
        } else {
            links[after as usize].next
        };
        links[id as usize] = Link { prev: after, next };
        links[next as usize].prev = id;
        if after == NIL {
            self.head = id;
        } else {
            links[after as usize].next = id;
        }
        self.len += 1;
    }

    #[inline]
    pub fn remove(&mut self, links: &mut [Link], id: u32) {
        let Link { prev, next } = links[id as usize];
        if prev == NIL {
            self.head = next;
        } else {
            links[prev as usize].next = next;
        }
        if next == NIL {
            self.tail = prev;
        } else {
            links[next as usize].prev = prev;
        }
        links[id as usize] = Link::default();
        self.len -= 1;
    }

    /// Ids from head (oldest) to tail (newest).
    pub fn iter<'a>(&self, links: &'a [Link]) -> impl Iterator<Item = u32> + 'a {
        let mut at = self.head;
        std::iter::from_fn(move || {
            if at == NIL {
                return None;
            }
            let id = at;
            at = links[id as usize].next;
            Some(id)
        })
    }
}
