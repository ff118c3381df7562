//! Weighted fair sharing: deficit round robin over the requesters waiting on
//! one resource, and the Gini coefficient that measures how fair the outcome was.

/// One requester's place in the round: its key, its deficit (service it is
/// owed, in amount units) and its waiting requests.
#[derive(Clone, Debug)]
pub(crate) struct Flow<T> {
    pub key: usize,
    pub deficit: f64,
    pub data: T,
}

/// Deficit round robin (Shreedhar & Varghese) with costs = requested amounts.
///
/// Each visit credits a flow its quantum (∝ its weight); the flow is served
/// while its deficit covers the cost of its head request, then the round moves
/// on. Over any stretch in which a flow stays backlogged it receives its weight
/// share of the service within one quantum plus one largest request, which is
/// what bounds both unfairness and waiting.
///
/// Unlike the textbook loop, [`select`](Drr::select) only names the next flow
/// and leaves the cursor on it; the caller charges it once the grant really
/// happens. Selecting again without a charge names the same flow, so a head
/// that does not fit yet keeps its turn.
#[derive(Clone, Debug)]
pub(crate) struct Drr<T> {
    flows: Vec<Flow<T>>,
    cursor: usize,
    /// Whether the flow under the cursor already had its quantum this visit.
    credited: bool,
}

impl<T> Default for Drr<T> {
    fn default() -> Self {
        Drr {
            flows: Vec::new(),
            cursor: 0,
            credited: false,
        }
    }
}

impl<T> Drr<T> {
    pub fn flows(&self) -> &[Flow<T>] {
        &self.flows
    }

    pub fn position(&self, key: usize) -> Option<usize> {
        self.flows.iter().position(|f| f.key == key)
    }

    pub fn flow_mut(&mut self, pos: usize) -> &mut Flow<T> {
        &mut self.flows[pos]
    }

    /// The flow for `key`, joining the round (at its end, with no deficit) if absent.
    pub fn get_or_insert(&mut self, key: usize, make: impl FnOnce() -> T) -> &mut Flow<T> {
        let pos = match self.position(key) {
            Some(p) => p,
            None => {
                // Joining just before the cursor puts the newcomer last in the
                // current round rather than letting it cut in.
                let at = self.cursor;
                self.flows.insert(
                    at,
                    Flow {
                        key,
                        deficit: 0.0,
                        data: make(),
                    },
                );
                if self.flows.len() > 1 {
                    self.cursor += 1;
                }
                at
            }
        };
        &mut self.flows[pos]
    }

    /// Drops a flow that has nothing left to send; its deficit goes with it,
    /// as in DRR an idle flow may not bank credit.
    pub fn remove(&mut self, pos: usize) {
        self.flows.remove(pos);
        if pos < self.cursor {
            self.cursor -= 1;
        } else if pos == self.cursor {
            self.credited = false;
        }
        if self.cursor >= self.flows.len() {
            self.cursor = 0;
        }
    }

    /// Takes `cost` off the deficit of the flow at `pos` (the one [`select`](Drr::select) named).
    pub fn charge(&mut self, pos: usize, cost: f64) {
        let f = &mut self.flows[pos];
        f.deficit = (f.deficit - cost).max(0.0);
    }

    /// The position of the next flow to serve among those for which `cost`
    /// gives a head cost (the others are skipped without credit), or `None`
    /// if no flow is eligible. `quantum(key)` must be > 0.
    pub fn select(&mut self, quantum: impl Fn(usize) -> f64, cost: impl Fn(&T) -> Option<f64>) -> Option<usize> {
        let n = self.flows.len();
        if !self.flows.iter().any(|f| cost(&f.data).is_some()) {
            return None;
        }
        for attempt in 0..3 {
            for _ in 0..n {
                let credited = self.credited;
                let f = &mut self.flows[self.cursor];
                if let Some(c) = cost(&f.data) {
                    if !credited {
                        f.deficit += quantum(f.key);
                        self.credited = true;
                    }
                    if f.deficit >= c * (1.0 - 1e-12) {
                        return Some(self.cursor);
                    }
                }
                self.cursor = (self.cursor + 1) % n;
                self.credited = false;
            }
            if attempt < 2 {
                self.fast_forward(&quantum, &cost);
            }
        }
        // Only reachable through float trouble (a quantum so small it
        // vanishes against the deficit): serve the next eligible flow as if
        // it were owed its head.
        loop {
            let f = &mut self.flows[self.cursor];
            if let Some(c) = cost(&f.data) {
                f.deficit = c;
                self.credited = true;
                return Some(self.cursor);
            }
            self.cursor = (self.cursor + 1) % n;
        }
    }

    /// After a full round served nobody: credits every eligible flow the
    /// rounds that would pass before the first of them could be served, all
    /// at once, so a quantum far below the costs does not cost a loop per round.
    fn fast_forward(&mut self, quantum: &impl Fn(usize) -> f64, cost: &impl Fn(&T) -> Option<f64>) {
        let rounds = self
            .flows
            .iter()
            .filter_map(|f| cost(&f.data).map(|c| ((c - f.deficit) / quantum(f.key)).ceil() - 1.0))
            .fold(f64::INFINITY, f64::min);
        if !(rounds.is_finite() && rounds >= 1.0) {
            return;
        }
        for f in &mut self.flows {
            if cost(&f.data).is_some() {
                f.deficit += rounds * quantum(f.key);
            }
        }
    }
}

/// The Gini coefficient of non-negative values: 0 when all are equal, towards
/// 1 when one value has everything. 0 for no values or an all-zero set.
pub fn gini(values: &[f64]) -> f64 {
    let n = values.len();
    let sum: f64 = values.iter().sum();
    if n == 0 || sum <= 0.0 || !sum.is_finite() {
        return 0.0;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    // G = Σ (2i − n − 1) x_(i) / (n Σ x), i = 1..n over the sorted values.
    let weighted: f64 = sorted
        .iter()
        .enumerate()
        .map(|(i, x)| (2.0 * (i as f64 + 1.0) - n as f64 - 1.0) * x)
        .sum();
    (weighted / (n as f64 * sum)).max(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gini_of_equal_values_is_zero_and_of_one_winner_is_near_one() {
        assert_eq!(gini(&[]), 0.0);
        assert_eq!(gini(&[0.0, 0.0]), 0.0);
        assert!(gini(&[3.0, 3.0, 3.0]).abs() < 1e-12);
        // One of n holds everything: G = (n − 1) / n.
        assert!((gini(&[0.0, 0.0, 0.0, 10.0]) - 0.75).abs() < 1e-12);
        assert!((gini(&[1.0, 2.0, 3.0, 4.0]) - 0.25).abs() < 1e-12);
    }

    /// Serves `grants` requests from always-backlogged flows whose requests
    /// cost `cost[key]`; returns the service per flow.
    fn serve(weights: &[f64], cost: &[f64], grants: usize) -> Vec<f64> {
        let mut drr: Drr<f64> = Drr::default();
        for (k, &c) in cost.iter().enumerate() {
            drr.get_or_insert(k, || c);
        }
        let mut served = vec![0.0; weights.len()];
        for _ in 0..grants {
            let pos = drr.select(|k| weights[k], |&c| Some(c)).unwrap();
            let again = drr.select(|k| weights[k], |&c| Some(c)).unwrap();
            assert_eq!(pos, again, "select without a charge must name the same flow");
            let (key, c) = (drr.flows()[pos].key, drr.flows()[pos].data);
            drr.charge(pos, c);
            served[key] += c;
        }
        served
    }

    #[test]
    fn backlogged_flows_share_by_weight() {
        let weights = [1.0, 2.0, 4.0];
        let served = serve(&weights, &[1.0, 1.0, 1.0], 7000);
        assert_eq!(served, vec![1000.0, 2000.0, 4000.0]);
    }

    #[test]
    fn a_quantum_far_below_the_cost_is_fast_forwarded() {
        let weights = [1e-6, 3e-6];
        let served = serve(&weights, &[1.0, 2.5], 4000);
        let share = served[1] / (served[0] + served[1]);
        assert!((share - 0.75).abs() < 0.01, "{share}");
    }

    #[test]
    fn removal_keeps_the_cursor_on_the_next_flow() {
        let mut drr: Drr<u8> = Drr::default();
        for k in 0..3 {
            drr.get_or_insert(k, || 0);
        }
        let pos = drr.select(|_| 1.0, |_| Some(1.0)).unwrap();
        assert_eq!(drr.flows()[pos].key, 0);
        drr.charge(pos, 1.0);
        drr.remove(pos);
        let pos = drr.select(|_| 1.0, |_| Some(1.0)).unwrap();
        assert_eq!(drr.flows()[pos].key, 1);
    }
}
