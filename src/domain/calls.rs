//! Participant-calls and the two numbers derived from them (SPEC §3.1): the
//! billable instant and the minutes the host was connected.

use std::collections::BTreeMap;

use super::timestamp::Timestamp;

/// Who a call belongs to. One party's overlapping calls count once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Party {
    Host,
    Participation(i64),
    Support(i64),
}

/// A call whose connect is known. A call whose Disconnect arrived before its
/// Connect is not a `Call` yet and takes no part in any rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Call {
    pub party: Party,
    pub connect: Timestamp,
    /// `None` while the call is open.
    pub disconnect: Option<Timestamp>,
}

/// An interval end that may be infinite: an open call while the session is active.
type End = i64;
const FOREVER: End = i64::MAX;

fn end_of(call: &Call) -> End {
    call.disconnect.map_or(FOREVER, Timestamp::as_micros)
}

/// Sorted, disjoint, non-empty half-open intervals covering `intervals`.
fn union(mut intervals: Vec<(i64, End)>) -> Vec<(i64, End)> {
    intervals.retain(|(start, end)| start < end);
    intervals.sort_unstable();
    let mut merged: Vec<(i64, End)> = Vec::with_capacity(intervals.len());
    for (start, end) in intervals {
        match merged.last_mut() {
            Some(last) if start <= last.1 => last.1 = last.1.max(end),
            _ => merged.push((start, end)),
        }
    }
    merged
}

fn total_length(intervals: &[(i64, End)]) -> i64 {
    intervals.iter().map(|(start, end)| end - start).sum()
}

fn intersection(a: &[(i64, End)], b: &[(i64, End)]) -> Vec<(i64, End)> {
    let (mut i, mut j) = (0, 0);
    let mut out = Vec::new();
    while i < a.len() && j < b.len() {
        let start = a[i].0.max(b[j].0);
        let end = a[i].1.min(b[j].1);
        if start < end {
            out.push((start, end));
        }
        if a[i].1 < b[j].1 { i += 1 } else { j += 1 }
    }
    out
}

/// The first instant at which two or more distinct parties are connected at
/// once, or `None` if that never happened. Open calls extend to infinity.
/// When a session became billable (SPEC §3.1): once stored it never
/// changes, even if a late event reveals an earlier overlap; until then,
/// the first overlap of its calls.
pub fn billable_instant(stored: Option<Timestamp>, calls: &[Call]) -> Option<Timestamp> {
    stored.or_else(|| first_overlap(calls))
}

pub fn first_overlap(calls: &[Call]) -> Option<Timestamp> {
    let mut by_party: BTreeMap<Party, Vec<(i64, End)>> = BTreeMap::new();
    for call in calls {
        by_party
            .entry(call.party)
            .or_default()
            .push((call.connect.as_micros(), end_of(call)));
    }
    // Within one party the merged intervals are disjoint, so the number of
    // open intervals at an instant is the number of parties connected then.
    // Zero-length calls connect nobody.
    let mut edges: Vec<(i64, i32)> = Vec::new();
    for intervals in by_party.into_values() {
        for (start, end) in union(intervals) {
            edges.push((start, 1));
            edges.push((end, -1));
        }
    }
    // Half-open: at equal instants a departure happens before an arrival.
    edges.sort_unstable();
    let mut connected = 0;
    for (at, change) in edges {
        connected += change;
        if connected >= 2 {
            return Some(Timestamp::from_micros(at));
        }
    }
    None
}

/// The intervals behind a session's duration (SPEC §3.1), as microsecond
/// half-open intervals, sorted and disjoint: H, the host's calls (an open
/// one ends at `i64::MAX`); K, the non-host calls whose end is known; and
/// H ∩ K, what is counted.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CountedOverlap {
    pub host: Vec<(i64, i64)>,
    pub others: Vec<(i64, i64)>,
    pub counted: Vec<(i64, i64)>,
}

impl CountedOverlap {
    pub fn of(calls: &[Call]) -> Self {
        let others: Vec<(i64, End)> = calls
            .iter()
            .filter(|c| c.party != Party::Host && c.disconnect.is_some())
            .map(|c| (c.connect.as_micros(), end_of(c)))
            .collect();
        let host: Vec<(i64, End)> = calls
            .iter()
            .filter(|c| c.party == Party::Host)
            .map(|c| (c.connect.as_micros(), end_of(c)))
            .collect();
        let (host, others) = (union(host), union(others));
        let counted = intersection(&host, &others);
        Self {
            host,
            others,
            counted,
        }
    }

    /// |H ∩ K| in whole milliseconds (truncated from microseconds).
    pub fn counted_millis(&self) -> i64 {
        total_length(&self.counted) / 1_000
    }
}

/// Minutes the host was connected to at least one non-host call whose end is
/// known, rounded half up; `None` when no such call exists, or while the
/// session is active and the host and another party are both still connected.
pub fn duration_minutes(calls: &[Call], session_active: bool) -> Option<i64> {
    let open = |call: &&Call| call.disconnect.is_none();
    let host_open = calls.iter().filter(open).any(|c| c.party == Party::Host);
    let other_open = calls.iter().filter(open).any(|c| c.party != Party::Host);
    if session_active && host_open && other_open {
        return None;
    }
    if !calls
        .iter()
        .any(|c| c.party != Party::Host && c.disconnect.is_some())
    {
        return None;
    }
    let millis = CountedOverlap::of(calls).counted_millis();
    Some((millis + 30_000) / 60_000)
}

/// Every party other than the host that has connected, each once, in order of
/// first connection. Ties at the same instant (SPEC §3.1): participations in
/// invitation order (`invited` gives a participation's place in its session),
/// then support agents by id; so the order never depends on the order events
/// arrived in.
pub fn guests_in_order_of_arrival(calls: &[Call], invited: impl Fn(i64) -> i64) -> Vec<Party> {
    let mut first: BTreeMap<Party, Timestamp> = BTreeMap::new();
    for call in calls.iter().filter(|c| c.party != Party::Host) {
        first
            .entry(call.party)
            .and_modify(|at| *at = (*at).min(call.connect))
            .or_insert(call.connect);
    }
    let tie = |party: Party| match party {
        Party::Participation(id) => (0, invited(id)),
        Party::Support(id) => (1, id),
        Party::Host => (2, 0),
    };
    let mut guests: Vec<(Timestamp, (u8, i64), Party)> = first
        .into_iter()
        .map(|(party, at)| (at, tie(party), party))
        .collect();
    guests.sort_unstable();
    guests.into_iter().map(|(_, _, party)| party).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MINUTE: i64 = 60_000_000;

    fn at(minutes: f64) -> Timestamp {
        Timestamp::from_micros((minutes * MINUTE as f64) as i64)
    }

    fn call(party: Party, from: f64, to: Option<f64>) -> Call {
        Call {
            party,
            connect: at(from),
            disconnect: to.map(at),
        }
    }

    const P1: Party = Party::Participation(1);
    const P2: Party = Party::Participation(2);
    const AGENT: Party = Party::Support(7);

    #[test]
    fn a_stored_billable_instant_never_moves() {
        let calls = [call(Party::Host, 0.0, Some(10.0)), call(P1, 2.0, Some(5.0))];
        assert_eq!(billable_instant(None, &calls), Some(at(2.0)));
        // A late event revealed an earlier overlap: the stored instant stays.
        assert_eq!(billable_instant(Some(at(4.0)), &calls), Some(at(4.0)));
        assert_eq!(billable_instant(None, &calls[..1]), None);
    }

    #[test]
    fn no_overlap_without_two_parties() {
        assert_eq!(first_overlap(&[]), None);
        assert_eq!(first_overlap(&[call(Party::Host, 0.0, None)]), None);
        // The same party twice at once is still one party.
        let calls = [
            call(Party::Host, 0.0, Some(10.0)),
            call(Party::Host, 5.0, None),
        ];
        assert_eq!(first_overlap(&calls), None);
    }

    #[test]
    fn overlap_starts_when_the_second_party_arrives() {
        let calls = [
            call(Party::Host, 0.0, Some(30.0)),
            call(P1, 2.5, Some(20.0)),
        ];
        assert_eq!(first_overlap(&calls), Some(at(2.5)));
    }

    #[test]
    fn touching_calls_do_not_overlap() {
        let calls = [
            call(Party::Host, 0.0, Some(10.0)),
            call(P1, 10.0, Some(20.0)),
        ];
        assert_eq!(first_overlap(&calls), None);
    }

    #[test]
    fn guests_alone_together_make_a_session_billable() {
        let calls = [call(P1, 1.0, Some(5.0)), call(AGENT, 3.0, None)];
        assert_eq!(first_overlap(&calls), Some(at(3.0)));
    }

    #[test]
    fn open_calls_extend_to_infinity_for_overlap() {
        let calls = [call(Party::Host, 0.0, None), call(P1, 500.0, None)];
        assert_eq!(first_overlap(&calls), Some(at(500.0)));
    }

    #[test]
    fn duration_is_host_time_with_known_end_guests() {
        let calls = [
            call(Party::Host, 0.0, Some(40.0)),
            call(P1, 10.0, Some(35.0)),
        ];
        assert_eq!(duration_minutes(&calls, true), Some(25));
    }

    #[test]
    fn duration_counts_overlapping_guests_once() {
        let calls = [
            call(Party::Host, 0.0, Some(60.0)),
            call(P1, 10.0, Some(30.0)),
            call(P2, 20.0, Some(40.0)),
        ];
        assert_eq!(duration_minutes(&calls, false), Some(30));
    }

    #[test]
    fn duration_sums_a_guest_who_left_and_rejoined() {
        let calls = [
            call(Party::Host, 0.0, Some(60.0)),
            call(P1, 0.0, Some(10.0)),
            call(P1, 20.0, Some(25.0)),
        ];
        assert_eq!(duration_minutes(&calls, false), Some(15));
    }

    #[test]
    fn duration_rounds_half_up() {
        let host = call(Party::Host, 0.0, None);
        let just_under = [host, call(P1, 0.0, Some(1.5 - 1.0 / 60_000.0))];
        assert_eq!(duration_minutes(&just_under, false), Some(1));
        let half = [host, call(P1, 0.0, Some(1.5))];
        assert_eq!(duration_minutes(&half, false), Some(2));
        let tiny = [host, call(P1, 0.0, Some(0.49))];
        assert_eq!(duration_minutes(&tiny, false), Some(0));
    }

    #[test]
    fn duration_drops_sub_millisecond_remainders_before_rounding() {
        // 29,999.999 ms is 29,999 ms: rounds down to 0 minutes.
        let calls = [
            call(Party::Host, 0.0, None),
            Call {
                party: P1,
                connect: Timestamp::from_micros(0),
                disconnect: Some(Timestamp::from_micros(29_999_999)),
            },
        ];
        assert_eq!(duration_minutes(&calls, false), Some(0));
    }

    #[test]
    fn duration_is_null_while_host_and_guest_are_connected() {
        let calls = [
            call(Party::Host, 0.0, None),
            call(P1, 1.0, None),
            call(P2, 1.0, Some(5.0)),
        ];
        assert_eq!(duration_minutes(&calls, true), None);
    }

    #[test]
    fn duration_counts_an_open_host_call_once_the_session_is_deactivated() {
        let calls = [
            call(Party::Host, 0.0, None),
            call(P1, 1.0, None),
            call(P2, 1.0, Some(5.0)),
        ];
        assert_eq!(duration_minutes(&calls, false), Some(4));
    }

    #[test]
    fn duration_is_null_when_no_guest_end_is_known() {
        let calls = [call(Party::Host, 0.0, Some(10.0)), call(P1, 1.0, None)];
        assert_eq!(duration_minutes(&calls, true), None);
        assert_eq!(duration_minutes(&calls, false), None);
        assert_eq!(
            duration_minutes(&[call(Party::Host, 0.0, Some(1.0))], false),
            None
        );
    }

    #[test]
    fn duration_with_an_open_host_call_and_finished_guests_may_grow() {
        let calls = [call(Party::Host, 0.0, None), call(P1, 2.0, Some(12.0))];
        assert_eq!(duration_minutes(&calls, true), Some(10));
    }

    #[test]
    fn duration_is_zero_when_the_host_never_met_a_guest() {
        let calls = [
            call(Party::Host, 0.0, Some(10.0)),
            call(P1, 11.0, Some(20.0)),
        ];
        assert_eq!(duration_minutes(&calls, false), Some(0));
    }

    #[test]
    fn support_calls_count_as_guests() {
        let calls = [
            call(Party::Host, 0.0, Some(31.0)),
            call(AGENT, 0.0, Some(31.0)),
        ];
        assert_eq!(duration_minutes(&calls, false), Some(31));
    }

    #[test]
    fn guests_are_listed_once_in_order_of_first_connection() {
        let calls = [
            call(P2, 5.0, Some(6.0)),
            call(Party::Host, 0.0, None),
            call(P1, 1.0, Some(2.0)),
            call(P2, 0.5, Some(1.0)),
            call(AGENT, 3.0, None),
        ];
        assert_eq!(
            guests_in_order_of_arrival(&calls, |id| id),
            vec![P2, P1, AGENT]
        );
    }

    #[test]
    fn guests_arriving_together_are_listed_in_invitation_order_then_agents_by_id() {
        const P3: Party = Party::Participation(3);
        let calls = [
            call(Party::Support(9), 1.0, None),
            call(P1, 1.0, None),
            call(AGENT, 1.0, None),
            call(P3, 1.0, None),
            call(P2, 1.0, None),
        ];
        // Invited in the order 3, 1, 2 (as an import may number them).
        let invited = |id| [0, 2, 3, 1][id as usize];
        assert_eq!(
            guests_in_order_of_arrival(&calls, invited),
            vec![P3, P1, P2, AGENT, Party::Support(9)]
        );
    }

    fn arbitrary_call() -> impl Strategy<Value = Call> {
        let party = prop_oneof![
            Just(Party::Host),
            (1i64..4).prop_map(Party::Participation),
            (1i64..3).prop_map(Party::Support),
        ];
        (
            party,
            0i64..10_000,
            proptest::option::weighted(0.8, 0i64..5_000),
        )
            .prop_map(|(party, start, length)| Call {
                party,
                connect: Timestamp::from_micros(start * 1_000_000),
                disconnect: length.map(|l| Timestamp::from_micros((start + l) * 1_000_000)),
            })
    }

    /// The parties connected at an instant, for checking `first_overlap`
    /// against the definition by brute force.
    fn parties_at(calls: &[Call], instant: i64) -> usize {
        let mut parties: Vec<Party> = calls
            .iter()
            .filter(|c| c.connect.as_micros() <= instant && instant < end_of(c))
            .map(|c| c.party)
            .collect();
        parties.sort();
        parties.dedup();
        parties.len()
    }

    proptest! {
        #[test]
        fn derived_values_ignore_arrival_order_and_repeats(
            calls in proptest::collection::vec(arbitrary_call(), 0..12),
            seed in any::<u64>(),
            active in any::<bool>(),
        ) {
            let mut shuffled = calls.clone();
            // Repeat a few calls and shuffle deterministically from the seed.
            shuffled.extend(calls.iter().take((seed % 4) as usize).copied());
            let len = shuffled.len();
            for i in (1..len).rev() {
                shuffled.swap(i, (seed.wrapping_mul(i as u64 + 7) % (i as u64 + 1)) as usize);
            }
            prop_assert_eq!(duration_minutes(&calls, active), duration_minutes(&shuffled, active));
            prop_assert_eq!(first_overlap(&calls), first_overlap(&shuffled));
            prop_assert_eq!(
                guests_in_order_of_arrival(&calls, |id| -id),
                guests_in_order_of_arrival(&shuffled, |id| -id)
            );
        }

        #[test]
        fn first_overlap_is_the_true_first_overlap(
            calls in proptest::collection::vec(arbitrary_call(), 0..10),
        ) {
            let candidates: Vec<i64> = calls.iter().map(|c| c.connect.as_micros()).collect();
            // Overlaps can only begin at some call's connect.
            let truth = candidates.iter().copied().filter(|&t| parties_at(&calls, t) >= 2).min();
            prop_assert_eq!(first_overlap(&calls).map(Timestamp::as_micros), truth);
        }

        #[test]
        fn billable_instant_observed_in_order_is_the_true_first_overlap(
            calls in proptest::collection::vec(arbitrary_call(), 0..10),
        ) {
            // Deliver every Connect and Disconnect in time order (a Disconnect
            // before a Connect at the same instant, as intervals are half-open)
            // and freeze the first overlap observed, as the service does.
            let mut deliveries: Vec<(i64, bool, usize)> = Vec::new();
            for (index, call) in calls.iter().enumerate() {
                deliveries.push((call.connect.as_micros(), true, index));
                if let Some(end) = call.disconnect {
                    deliveries.push((end.as_micros(), false, index));
                }
            }
            deliveries.sort();
            let mut known: Vec<Option<Call>> = vec![None; calls.len()];
            let mut observed = None;
            for (_, is_connect, index) in deliveries {
                if !is_connect {
                    known[index] = Some(calls[index]);
                } else if known[index].is_none() {
                    known[index] = Some(Call { disconnect: None, ..calls[index] });
                }
                let so_far: Vec<Call> = known.iter().flatten().copied().collect();
                observed = observed.or_else(|| first_overlap(&so_far));
            }
            prop_assert_eq!(observed, first_overlap(&calls));
        }

        #[test]
        fn duration_never_exceeds_the_hosts_known_time(
            calls in proptest::collection::vec(arbitrary_call(), 0..10),
        ) {
            if let Some(minutes) = duration_minutes(&calls, false) {
                let guests: Vec<(i64, End)> = calls.iter()
                    .filter(|c| c.party != Party::Host && c.disconnect.is_some())
                    .map(|c| (c.connect.as_micros(), end_of(c))).collect();
                let span = total_length(&union(guests));
                prop_assert!(minutes * 60_000_000 <= span + 30_000_000);
            }
        }
    }
}
