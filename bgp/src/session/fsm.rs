//! The message and timer side of the RFC 4271 §8.2.2 FSM. Each arm names
//! the RFC's event.

use super::{ConnState, Direction, DownReason, Event, Negotiated, Session};
use crate::rib::{Route, RouteAttrs};
use crate::wire::{
    self, cease, frame, Afi, Capability, Message, Notification, NotificationCode, Open, Update,
    WireError,
};
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// RFC 6608 FSM error subcodes: unexpected message in each state.
fn fsm_error(state: ConnState) -> Notification {
    let subcode = match state {
        ConnState::Dialing | ConnState::OpenSent => 1,
        ConnState::OpenConfirm => 2,
        ConnState::Established => 3,
    };
    Notification {
        code: NotificationCode::Fsm,
        subcode,
        data: Vec::new(),
    }
}

pub(super) fn handle_data(s: &mut Session, now: Instant, id: super::ConnId, data: &[u8]) {
    let Some(c) = s.conns.iter_mut().find(|c| c.id == id) else {
        return;
    };
    c.rx.extend_from_slice(data);
    loop {
        let Some(c) = s.conns.iter_mut().find(|c| c.id == id) else {
            return;
        };
        let ctx = c.neg.map(|n| n.ctx).unwrap_or_default();
        let msg = match frame(&c.rx) {
            Ok(None) => return,
            Ok(Some(len)) => {
                let m = Message::decode(&c.rx[..len], &ctx);
                c.rx.drain(..len);
                m
            }
            Err(e) => Err(e),
        };
        match msg {
            Ok(m) => on_message(s, now, id, m),
            // BGPHeaderErr / BGPOpenMsgErr / UpdateMsgErr (events 21, 22, 28).
            Err(e) => fail(s, now, id, &e),
        }
    }
}

/// Sends the NOTIFICATION a decode error calls for and drops the
/// connection.
fn fail(s: &mut Session, now: Instant, id: super::ConnId, e: &WireError) {
    tracing::warn!(session = %s.cfg.name, error = %e, "BGP message refused; resetting the connection");
    notify_and_close(s, now, id, e.notification());
}

fn notify_and_close(s: &mut Session, now: Instant, id: super::ConnId, n: Notification) {
    close(s, now, id, Some(n.clone()), DownReason::NotificationSent(n));
}

/// Drops a connection, after sending `notify` if given. If it was the
/// Established one the session goes down for `reason`; if it was the last
/// one an automatic restart is scheduled.
fn close(
    s: &mut Session,
    now: Instant,
    id: super::ConnId,
    notify: Option<Notification>,
    reason: DownReason,
) {
    let Some(pos) = s.conns.iter().position(|c| c.id == id) else {
        return;
    };
    let c = s.conns.remove(pos);
    if let Some(n) = notify {
        s.send(id, &Message::Notification(n), c.neg);
        s.stats.notifications_sent += 1;
    }
    s.actions.push_back(super::Action::Close(id));
    if c.state == ConnState::Established {
        s.down(now, reason);
    } else if s.conns.is_empty() {
        s.schedule_restart(now, Duration::ZERO);
    }
}

fn on_message(s: &mut Session, now: Instant, id: super::ConnId, m: Message) {
    let Some(c) = s.conns.iter_mut().find(|c| c.id == id) else {
        return;
    };
    let state = c.state;
    // Any message restarts the Hold Timer once it is negotiated.
    if let Some(n) = c.neg.filter(|n| n.hold > 0) {
        c.hold_at = Some(now + Duration::from_secs(u64::from(n.hold)));
    }
    match (state, m) {
        // NotifMsg (event 25): the connection is done.
        (_, Message::Notification(n)) => {
            s.stats.notifications_received += 1;
            tracing::warn!(session = %s.cfg.name, notification = %n.describe(), "BGP NOTIFICATION received");
            close(s, now, id, None, DownReason::NotificationReceived(n));
        }
        // BGPOpen (event 19) in OpenSent.
        (ConnState::OpenSent, Message::Open(o)) => on_open(s, now, id, o),
        // KeepAliveMsg (event 26) in OpenConfirm: Established.
        (ConnState::OpenConfirm, Message::Keepalive) => on_established(s, now, id),
        (ConnState::Established, Message::Keepalive) => {}
        // UpdateMsg (event 27).
        (ConnState::Established, Message::Update(u)) => on_update(s, now, id, u),
        (ConnState::Established, Message::RouteRefresh { afi, .. }) => {
            // RFC 2918 §4: send the Adj-RIB-Out of that family again.
            if let Some(afi) = Afi::from_code(afi) {
                s.resend_family(afi);
            }
        }
        (state, m) => {
            tracing::warn!(session = %s.cfg.name, message = m.type_code(), ?state, "unexpected BGP message");
            notify_and_close(s, now, id, fsm_error(state));
        }
    }
}

// RFC 4271 §6.2 and §8.2.2 (OpenSent, event 19); RFC 5492 §3.
fn on_open(s: &mut Session, now: Instant, id: super::ConnId, o: Open) {
    let peer_as = o.asn();
    if peer_as != s.cfg.remote_as {
        tracing::warn!(session = %s.cfg.name, peer_as, expected = s.cfg.remote_as, "BGP OPEN from the wrong AS");
        let n = WireError::new(NotificationCode::Open, 2, "bad peer AS")
            .with_data(&o.my_as.to_be_bytes());
        return fail(s, now, id, &n);
    }
    let mp: Vec<(u16, u8)> = o
        .capabilities
        .iter()
        .filter_map(|c| match c {
            Capability::Multiprotocol { afi, safi } => Some((*afi, *safi)),
            _ => None,
        })
        .collect();
    // RFC 4760 §8: without any MP capability, IPv4 unicast is implied.
    let has = |afi: Afi| mp.is_empty() && afi == Afi::Ipv4 || mp.contains(&(afi.code(), 1));
    let hold = s.cfg.hold_time.min(o.hold_time);
    let neg = Negotiated {
        peer_id: o.router_id,
        peer_as,
        hold,
        ctx: wire::Context {
            four_octet_as: o.four_octet_as(),
        },
        ipv4: s.cfg.ipv4 && has(Afi::Ipv4),
        ipv6: s.cfg.ipv6 && has(Afi::Ipv6),
        refresh: o.has(&Capability::RouteRefresh),
    };
    // §6.8 connection collision detection: the other connection, if it
    // has reached OpenConfirm, is compared by BGP Identifier.
    let this_dir = s.conns.iter().find(|c| c.id == id).map(|c| c.dir);
    let other = s
        .conns
        .iter()
        .find(|c| c.id != id && c.state >= ConnState::OpenConfirm)
        .map(|c| (c.id, c.state));
    if let (Some(this_dir), Some((other_id, other_state))) = (this_dir, other) {
        s.stats.collisions += 1;
        if other_state == ConnState::Established {
            return notify_and_close(s, now, id, Notification::cease(cease::CONNECTION_COLLISION));
        }
        // The local system keeps the connection the higher identifier
        // opened: if ours is lower, close the one we initiated.
        let close_dir = if u32::from(s.cfg.router_id) < u32::from(o.router_id) {
            Direction::Outgoing
        } else {
            Direction::Incoming
        };
        tracing::info!(session = %s.cfg.name, closing = ?close_dir, "BGP connection collision");
        let loser = if this_dir == close_dir { id } else { other_id };
        notify_and_close(
            s,
            now,
            loser,
            Notification::cease(cease::CONNECTION_COLLISION),
        );
        if loser == id {
            return;
        }
    }
    let Some(c) = s.conns.iter_mut().find(|c| c.id == id) else {
        return;
    };
    c.neg = Some(neg);
    c.state = ConnState::OpenConfirm;
    if hold > 0 {
        c.hold_at = Some(now + Duration::from_secs(u64::from(hold)));
        c.keepalive_at = Some(now + keepalive_interval(hold));
    } else {
        c.hold_at = None;
        c.keepalive_at = None;
    }
    s.send(id, &Message::Keepalive, Some(neg));
}

/// §4.4: a third of the hold time.
fn keepalive_interval(hold: u16) -> Duration {
    Duration::from_secs(u64::from(hold / 3).max(1))
}

fn on_established(s: &mut Session, now: Instant, id: super::ConnId) {
    // The other connection, if any, loses (§6.8).
    let others: Vec<_> = s
        .conns
        .iter()
        .filter(|c| c.id != id)
        .map(|c| c.id)
        .collect();
    for o in others {
        notify_and_close(s, now, o, Notification::cease(cease::CONNECTION_COLLISION));
    }
    let Some(c) = s.conns.iter_mut().find(|c| c.id == id) else {
        return;
    };
    c.state = ConnState::Established;
    let Some(neg) = c.neg else {
        return;
    };
    s.connect_retry_at = None;
    s.restart_at = None;
    s.failures = 0;
    s.stats.established_transitions += 1;
    tracing::info!(session = %s.cfg.name, peer_id = %neg.peer_id, peer_as = neg.peer_as,
        hold = neg.hold, ipv4 = neg.ipv4, ipv6 = neg.ipv6, "BGP session established");
    s.events.push_back(Event::Established {
        peer_id: neg.peer_id,
        peer_as: neg.peer_as,
        hold_time: neg.hold,
    });
    s.sync_export(true);
}

// RFC 4271 §9 (UPDATE processing), RFC 7606, RFC 4486.
fn on_update(s: &mut Session, now: Instant, id: super::ConnId, u: Update) {
    s.stats.updates_received += 1;
    let Some(neg) = s.conns.iter().find(|c| c.id == id).and_then(|c| c.neg) else {
        return;
    };
    if u.is_end_of_rib().is_some() {
        tracing::debug!(session = %s.cfg.name, "End-of-RIB received");
        return;
    }
    let mut taw = u.treat_as_withdraw;
    // RFC 4271 §6.3 / RFC 7606 §7.2: an eBGP path must start with the
    // peer's AS (an iBGP path carries no AS of ours or the peer's).
    if taw.is_none() && !s.is_ibgp() && u.announced().next().is_some() {
        let first = u.attrs.as_path.as_ref().and_then(|p| p.first());
        if first != Some(neg.peer_as) {
            taw = Some("AS path does not start with the peer's AS");
        }
    }
    if let Some(why) = taw {
        s.stats.treat_as_withdraw += 1;
        if s.log_allowed(now) {
            tracing::warn!(session = %s.cfg.name, reason = why, "malformed UPDATE: its routes are treated as withdrawn (RFC 7606)");
        }
    }
    for p in u.withdrawn_all() {
        if s.rib.remove(p) {
            s.events.push_back(Event::RouteWithdrawn { prefix: *p });
        }
    }
    if taw.is_some() {
        for p in u.announced() {
            if s.rib.remove(p) {
                s.events.push_back(Event::RouteWithdrawn { prefix: *p });
            }
        }
        return;
    }
    let path = u.attrs.as_path.clone().unwrap_or_default();
    let v6_next_hop = u
        .mp_reach
        .as_ref()
        .and_then(|m| m.next_hops.first().copied());
    // One shared attribute set per family (their next hops differ).
    let attrs = |next_hop| {
        Route::new(RouteAttrs {
            as_path: path.clone(),
            next_hop,
            origin: u.attrs.origin,
            med: u.attrs.med,
            // RFC 4271 §5.1.5: LOCAL_PREF from an eBGP peer is ignored.
            local_pref: u.attrs.local_pref.filter(|_| s.is_ibgp()),
            communities: u.attrs.communities.clone(),
        })
    };
    let v4_route = attrs(u.attrs.next_hop.map(IpAddr::V4).or(v6_next_hop));
    let v6_route = attrs(v6_next_hop);
    for p in u.announced() {
        s.stats.prefixes_announced_to_us += 1;
        let family_ok = match Afi::of(p) {
            Afi::Ipv4 => neg.ipv4,
            Afi::Ipv6 => neg.ipv6,
        };
        let verdict = if family_ok {
            s.cfg.import.check(p, &path, s.cfg.local_as)
        } else {
            Err(crate::rib::Rejection::Family)
        };
        if let Err(why) = verdict {
            s.stats.prefixes_filtered += 1;
            tracing::debug!(session = %s.cfg.name, prefix = %p, reason = %why, "prefix not imported");
            // An update that is now filtered replaces an accepted route.
            if s.rib.remove(p) {
                s.events.push_back(Event::RouteWithdrawn { prefix: *p });
            }
            continue;
        }
        let route = match p {
            ipnet::IpNet::V4(_) => v4_route.clone(),
            ipnet::IpNet::V6(_) => v6_route.clone(),
        };
        if s.rib.insert(*p, route.clone()) {
            s.events
                .push_back(Event::RouteUpdated { prefix: *p, route });
        }
        let limit = s.cfg.import.max_prefixes;
        if s.rib.len() > limit {
            tracing::error!(session = %s.cfg.name, limit,
                "BGP peer sent more than the maximum number of prefixes; closing the session (Cease/1)");
            let mut data = Vec::new();
            data.extend_from_slice(&Afi::of(p).code().to_be_bytes());
            data.push(wire::Safi::UNICAST);
            data.extend_from_slice(&u32::try_from(limit).unwrap_or(u32::MAX).to_be_bytes());
            let n = Notification {
                code: NotificationCode::Cease,
                subcode: cease::MAX_PREFIXES,
                data,
            };
            s.send(id, &Message::Notification(n), Some(neg));
            s.stats.notifications_sent += 1;
            s.down(now, DownReason::MaxPrefixes { limit });
            return;
        }
    }
}

pub(super) fn handle_timeout(s: &mut Session, now: Instant) {
    // HoldTimer_Expires (event 10).
    let expired: Vec<_> = s
        .conns
        .iter()
        .filter(|c| c.hold_at.is_some_and(|t| t <= now))
        .map(|c| c.id)
        .collect();
    for id in expired {
        tracing::warn!(session = %s.cfg.name, "BGP hold timer expired");
        let n = Notification {
            code: NotificationCode::HoldTimerExpired,
            subcode: 0,
            data: Vec::new(),
        };
        close(s, now, id, Some(n), DownReason::HoldTimerExpired);
    }
    // KeepaliveTimer_Expires (event 11).
    let due: Vec<_> = s
        .conns
        .iter_mut()
        .filter(|c| c.keepalive_at.is_some_and(|t| t <= now))
        .filter_map(|c| {
            let n = c.neg?;
            c.keepalive_at = Some(now + keepalive_interval(n.hold));
            Some((c.id, n))
        })
        .collect();
    for (id, n) in due {
        s.send(id, &Message::Keepalive, Some(n));
    }
    // ConnectRetryTimer_Expires (event 9): dial again.
    if s.connect_retry_at.is_some_and(|t| t <= now) {
        s.connect_retry_at = None;
        if s.conns.iter().all(|c| c.state == ConnState::Dialing) {
            for c in std::mem::take(&mut s.conns) {
                s.actions.push_back(super::Action::Close(c.id));
            }
            s.automatic_start(now);
        }
    }
    // IdleHoldTimer expiry: AutomaticStart (event 3).
    if s.restart_at.is_some_and(|t| t <= now) && s.admin_up {
        s.automatic_start(now);
    }
}
