//! Intake's share of a batch while the workers are behind.
//!
//! The writer commits whatever has arrived in one transaction, so each batch
//! is split between intake and processing in proportion to the commands in
//! flight on each side: 64 HTTP connections keep up to 64 enqueues waiting,
//! a worker pool of concurrency 16 about 32 acknowledgements and one lease.
//! Under overload the writer (and the CPU it shares with the HTTP side) is
//! the bottleneck, and intake takes two thirds of it: measured, processing
//! fell to half its sustained rate at twice the sustainable intake.
//!
//! So once a lease came back full (more is waiting than the pool asked for:
//! the workers are behind), a batch that carries the workers' commands takes
//! at most as many enqueues as it settles deliveries, and at least
//! [`ENQUEUE_FLOOR`]. The enqueues left over wait, in arrival order, for the
//! next batch, which follows at once. Their callers have no answer yet, so
//! nothing acknowledged is delayed or lost, and their senders see the wait as
//! latency (the back-pressure the capacity and age bounds turn into `503`).
//! A batch without workers' commands (no pool, or an idle one) takes every
//! enqueue, so the intake-only maximum is unchanged, and so does every batch
//! once a lease comes back short (the workers keep up).

use std::collections::VecDeque;

use super::Command;

/// The fewest enqueues a batch takes while the workers are behind: intake
/// slows down to processing's pace, never to a stop.
pub(super) const ENQUEUE_FLOOR: usize = 16;

/// Sorts the commands of a batch: enqueues wait here until a batch admits
/// them, every other command goes into the batch at once.
#[derive(Default)]
pub(super) struct IntakeShare {
    /// Enqueues not yet in a batch, oldest first.
    waiting: VecDeque<Command>,
    /// Whether the last lease came back full.
    workers_behind: bool,
}

impl IntakeShare {
    /// How many enqueues wait for a batch.
    pub(super) fn waiting(&self) -> usize {
        self.waiting.len()
    }

    /// Takes `command` into the batch, or among the waiting enqueues.
    pub(super) fn sort(&mut self, command: Command, batch: &mut Vec<Command>) {
        match command {
            Command::Enqueue { .. } => self.waiting.push_back(command),
            other => batch.push(other),
        }
    }

    /// Puts the enqueues this batch may take at its front (so that a lease
    /// in the same batch can take them), oldest first, within the batch's
    /// bounds: `max_batch` commands and `max_bytes` of payload (at least one
    /// command, so a large body still goes through).
    pub(super) fn admit(&mut self, batch: &mut Vec<Command>, max_batch: usize, max_bytes: usize) {
        let settled = batch
            .iter()
            .filter(|command| matches!(command, Command::Finish { .. }))
            .count();
        let workers_here = settled > 0
            || batch
                .iter()
                .any(|command| matches!(command, Command::Lease { .. }));
        let share = if self.workers_behind && workers_here {
            settled.max(ENQUEUE_FLOOR)
        } else {
            usize::MAX
        };
        let mut admitted = Vec::new();
        let mut bytes = 0;
        while admitted.len() < share
            && batch.len() + admitted.len() < max_batch.max(1)
            && (admitted.is_empty() || bytes < max_bytes)
        {
            let Some(enqueue) = self.waiting.pop_front() else {
                break;
            };
            bytes += enqueue.payload_bytes();
            admitted.push(enqueue);
        }
        batch.splice(0..0, admitted);
    }

    /// Notes what a lease asked for and got: a full one means more waits
    /// than the workers take at once.
    pub(super) fn lease_answered(&mut self, asked: usize, got: usize) {
        self.workers_behind = asked > 0 && got >= asked;
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use tokio::sync::oneshot;

    use super::*;
    use crate::sqlite::store::Finish;
    use crate::{LeaseId, LeaseRequest, NewDelivery};

    fn enqueue(id: &str) -> Command {
        let (reply, _) = oneshot::channel();
        Command::Enqueue {
            delivery: NewDelivery::new("github", id, SystemTime::now(), &b"{}"[..]),
            reply,
        }
    }

    fn ack() -> Command {
        let (reply, _) = oneshot::channel();
        Command::Finish {
            lease: LeaseId::new("1"),
            action: Finish::Ack,
            reply,
        }
    }

    fn lease(max: usize) -> Command {
        let (reply, _) = oneshot::channel();
        Command::Lease {
            request: LeaseRequest::new(max, Duration::from_secs(30)),
            reply,
        }
    }

    /// The delivery ids of the batch's enqueues, in batch order, and how
    /// many other commands it has.
    fn contents(batch: &[Command]) -> (Vec<String>, usize) {
        let mut ids = Vec::new();
        let mut others = 0;
        for command in batch {
            match command {
                Command::Enqueue { delivery, .. } => ids.push(delivery.delivery_id.clone()),
                _ => others += 1,
            }
        }
        (ids, others)
    }

    fn sorted(
        share: &mut IntakeShare,
        commands: impl IntoIterator<Item = Command>,
    ) -> Vec<Command> {
        let mut batch = Vec::new();
        for command in commands {
            share.sort(command, &mut batch);
        }
        batch
    }

    #[test]
    fn while_workers_keep_up_a_batch_takes_every_enqueue_first() {
        let mut share = IntakeShare::default();
        share.lease_answered(32, 5);
        let commands = (0..40)
            .map(|i| enqueue(&i.to_string()))
            .chain([ack(), lease(32)]);
        let mut batch = sorted(&mut share, commands);
        share.admit(&mut batch, 1024, usize::MAX);
        let (ids, others) = contents(&batch);
        assert_eq!(ids, (0..40).map(|i| i.to_string()).collect::<Vec<_>>());
        assert_eq!(others, 2);
        // Enqueues first: the lease of the same batch can take them.
        assert!(matches!(batch[0], Command::Enqueue { .. }));
        assert_eq!(share.waiting(), 0);
    }

    #[test]
    fn while_workers_are_behind_intake_gets_what_the_batch_settles_and_the_rest_waits_in_order() {
        let mut share = IntakeShare::default();
        share.lease_answered(32, 32);
        let settled = ENQUEUE_FLOOR + 4;
        let commands = (0..100)
            .map(|i| enqueue(&i.to_string()))
            .chain((0..settled).map(|_| ack()))
            .chain([lease(32)]);
        let mut batch = sorted(&mut share, commands);
        share.admit(&mut batch, 1024, usize::MAX);
        let (ids, others) = contents(&batch);
        assert_eq!(ids, (0..settled).map(|i| i.to_string()).collect::<Vec<_>>());
        assert_eq!(others, settled + 1);
        assert_eq!(share.waiting(), 100 - settled);

        // The next batch, with only a lease: the floor, oldest first.
        let mut batch = sorted(&mut share, [lease(32)]);
        share.admit(&mut batch, 1024, usize::MAX);
        let (ids, _) = contents(&batch);
        let expected: Vec<String> = (settled..settled + ENQUEUE_FLOOR)
            .map(|i| i.to_string())
            .collect();
        assert_eq!(ids, expected);
    }

    #[test]
    fn a_batch_without_workers_commands_takes_every_enqueue_even_while_they_are_behind() {
        let mut share = IntakeShare::default();
        share.lease_answered(32, 32);
        let mut batch = sorted(&mut share, (0..100).map(|i| enqueue(&i.to_string())));
        share.admit(&mut batch, 1024, usize::MAX);
        assert_eq!(contents(&batch).0.len(), 100);
        assert_eq!(share.waiting(), 0);
    }

    #[test]
    fn a_short_lease_ends_the_limit() {
        let mut share = IntakeShare::default();
        share.lease_answered(32, 32);
        share.lease_answered(32, 31);
        let mut batch = sorted(
            &mut share,
            (0..100).map(|i| enqueue(&i.to_string())).chain([ack()]),
        );
        share.admit(&mut batch, 1024, usize::MAX);
        assert_eq!(contents(&batch).0.len(), 100);
    }

    #[test]
    fn the_batch_bounds_hold_and_one_enqueue_always_goes_through() {
        let mut share = IntakeShare::default();
        let mut batch = sorted(&mut share, (0..10).map(|i| enqueue(&i.to_string())));
        // Each body is 2 bytes: a bound of 1 byte still takes the first.
        share.admit(&mut batch, 1024, 1);
        assert_eq!(contents(&batch).0, vec!["0".to_owned()]);
        let mut batch = sorted(&mut share, [ack(), ack()]);
        share.admit(&mut batch, 5, usize::MAX);
        assert_eq!(
            contents(&batch),
            (vec!["1".into(), "2".into(), "3".into()], 2)
        );
        assert_eq!(share.waiting(), 6);
    }
}
