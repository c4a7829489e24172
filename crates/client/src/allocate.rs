//! Queue allocation for clustering consumers (fact sheet §10,
//! AllocateMessageQueueAveragely). Inputs must be sorted the same way in every
//! client (queues by topic/broker/id, client ids lexicographically) so that the
//! clients' shares are disjoint and cover every queue.

use crate::message_queue::MessageQueue;

/// The queues `client_id` gets out of `all` when shared among `clients`.
/// A client not in `clients` gets nothing.
pub fn allocate_averagely(
    client_id: &str,
    all: &[MessageQueue],
    clients: &[String],
) -> Vec<MessageQueue> {
    let Some(index) = clients.iter().position(|c| c == client_id) else {
        return Vec::new();
    };
    let n = all.len();
    let c = clients.len();
    if n == 0 || index >= n {
        return Vec::new();
    }
    let modulo = n % c;
    let size = if n <= c {
        1
    } else if modulo > 0 && index < modulo {
        n / c + 1
    } else {
        n / c
    };
    let start = if modulo > 0 && index < modulo {
        index * size
    } else {
        index * size + modulo
    };
    let take = size.min(n - start);
    all[start..start + take].to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queues(n: i32) -> Vec<MessageQueue> {
        (0..n).map(|i| MessageQueue::new("T", "b", i)).collect()
    }

    fn ids(c: usize) -> Vec<String> {
        (0..c).map(|i| format!("c{i}")).collect()
    }

    #[test]
    fn matches_the_fact_sheet_example() {
        let all = queues(8);
        let cs = ids(3);
        let got: Vec<Vec<i32>> = cs
            .iter()
            .map(|c| {
                allocate_averagely(c, &all, &cs)
                    .iter()
                    .map(|q| q.queue_id)
                    .collect()
            })
            .collect();
        assert_eq!(got, vec![vec![0, 1, 2], vec![3, 4, 5], vec![6, 7]]);
    }

    #[test]
    fn shares_are_disjoint_and_cover_everything() {
        for n in 0..12 {
            for c in 1..6 {
                let all = queues(n);
                let cs = ids(c);
                let mut seen: Vec<i32> = cs
                    .iter()
                    .flat_map(|id| allocate_averagely(id, &all, &cs))
                    .map(|q| q.queue_id)
                    .collect();
                seen.sort();
                assert_eq!(seen, (0..n).collect::<Vec<_>>(), "n={n} c={c}");
            }
        }
        assert!(allocate_averagely("x", &queues(4), &ids(2)).is_empty());
    }
}
