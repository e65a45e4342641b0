//! The client's address, as the rate limits see it (verification attempts per client address,
//! the desk's login limit).
//!
//! It is the connection's peer, unless that peer is a reverse proxy named in
//! `server.trusted_proxies`: then it is the address the proxy says it received the request from,
//! read from `X-Forwarded-For` right to left, skipping the trusted hops. Only the hops the
//! service trusts are believed: anyone can send an `X-Forwarded-For`, so a header that reaches
//! the service from an untrusted peer, or the part of it left of the first untrusted hop, is
//! never read. Without this, every customer behind the store's nginx would share one address
//! and so one limit: one person guessing order numbers would lock everyone else out.
//!
//! This module does not count or limit anything; the callers do.

use std::{net::IpAddr, sync::Arc};

use axum::{
    extract::{ConnectInfo, FromRequestParts},
    http::{request::Parts, HeaderMap},
};

use crate::{app::App, config::Network};

/// The client of a request that reached the service from `peer` with these headers.
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &[Network]) -> IpAddr {
    let peer = peer.to_canonical();
    if !trusted.iter().any(|n| n.contains(peer)) {
        return peer;
    }
    // Several headers count as one list, in order (RFC 9110, 5.3).
    let hops: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    let mut client = peer;
    for hop in hops.iter().rev() {
        let Some(ip) = parse_hop(hop) else {
            // Garbage is where the trustworthy part ends: the last address vouched for stands.
            return client;
        };
        client = ip;
        if !trusted.iter().any(|n| n.contains(ip)) {
            return ip;
        }
    }
    client
}

/// One hop: an address, possibly with a port (`203.0.113.7:5123`, `[2001:db8::1]:443`).
fn parse_hop(hop: &str) -> Option<IpAddr> {
    if let Ok(ip) = hop.parse::<IpAddr>() {
        return Some(ip.to_canonical());
    }
    hop.parse::<std::net::SocketAddr>()
        .ok()
        .map(|s| s.ip().to_canonical())
}

/// The client's address (see the module docs).
pub struct ClientAddr(pub IpAddr);

impl FromRequestParts<Arc<App>> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        app: &Arc<App>,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<std::net::SocketAddr>>()
            .map_or(IpAddr::from([0, 0, 0, 0]), |c| c.0.ip());
        Ok(ClientAddr(client_ip(
            peer,
            &parts.headers,
            &app.config.server.trusted_proxies,
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn forwarded(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append("x-forwarded-for", v.parse().unwrap());
        }
        h
    }

    fn nets(list: &[&str]) -> Vec<Network> {
        list.iter().map(|s| s.parse().unwrap()).collect()
    }

    #[test]
    fn without_trusted_proxies_the_header_is_ignored() {
        let h = forwarded(&["198.51.100.1"]);
        assert_eq!(client_ip(ip("203.0.113.5"), &h, &[]), ip("203.0.113.5"));
        assert_eq!(
            client_ip(ip("203.0.113.5"), &h, &nets(&["127.0.0.1"])),
            ip("203.0.113.5"),
            "a peer that is not the proxy cannot claim another address"
        );
    }

    #[test]
    fn behind_a_trusted_proxy_the_nearest_untrusted_hop_is_the_client() {
        let trusted = nets(&["127.0.0.1", "10.0.0.0/8"]);
        assert_eq!(
            client_ip(ip("127.0.0.1"), &forwarded(&["198.51.100.7"]), &trusted),
            ip("198.51.100.7")
        );
        // The client wrote its own X-Forwarded-For; nginx appended the real address.
        let spoofed = forwarded(&["1.2.3.4, 198.51.100.7"]);
        assert_eq!(
            client_ip(ip("127.0.0.1"), &spoofed, &trusted),
            ip("198.51.100.7"),
            "only the hops the proxy vouches for are read"
        );
        // Two proxies: a load balancer (10.x) in front of nginx.
        let chained = forwarded(&["198.51.100.7", "10.1.2.3"]);
        assert_eq!(
            client_ip(ip("127.0.0.1"), &chained, &trusted),
            ip("198.51.100.7")
        );
        assert_eq!(
            client_ip(
                ip("127.0.0.1"),
                &forwarded(&["[2001:db8::7]:4431"]),
                &trusted
            ),
            ip("2001:db8::7")
        );
    }

    #[test]
    fn a_missing_or_garbled_header_leaves_the_last_trusted_address() {
        let trusted = nets(&["127.0.0.1", "10.0.0.0/8"]);
        assert_eq!(
            client_ip(ip("127.0.0.1"), &HeaderMap::new(), &trusted),
            ip("127.0.0.1")
        );
        assert_eq!(
            client_ip(
                ip("127.0.0.1"),
                &forwarded(&["198.51.100.7, not-an-address, 10.0.0.9"]),
                &trusted
            ),
            ip("10.0.0.9")
        );
        assert_eq!(
            client_ip(ip("127.0.0.1"), &forwarded(&["10.0.0.9"]), &trusted),
            ip("10.0.0.9"),
            "all hops trusted: the farthest one"
        );
    }
}
