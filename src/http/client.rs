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

use std::{net::IpAddr, str::FromStr, sync::Arc};

use axum::{
    extract::{ConnectInfo, FromRequestParts},
    http::{request::Parts, HeaderMap},
};

use crate::app::App;

/// An address or a network in CIDR notation (`10.0.0.0/8`, `fd00::/8`, `127.0.0.1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Network {
    addr: IpAddr,
    prefix: u8,
}

impl FromStr for Network {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || format!("{s:?} is not an IP address or a network like \"10.0.0.0/8\"");
        let (addr, prefix) = match s.trim().split_once('/') {
            Some((a, p)) => (a.parse::<IpAddr>().map_err(|_| bad())?, Some(p.parse::<u8>().map_err(|_| bad())?)),
            None => (s.trim().parse::<IpAddr>().map_err(|_| bad())?, None),
        };
        let addr = addr.to_canonical();
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(max);
        if prefix > max {
            return Err(bad());
        }
        Ok(Network { addr, prefix })
    }
}

impl Network {
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        let bits = |a: IpAddr| -> (u128, u32) {
            match a {
                IpAddr::V4(v) => (u32::from(v) as u128, 32),
                IpAddr::V6(v) => (u128::from(v), 128),
            }
        };
        let ((net, width), (addr, other)) = (bits(self.addr), bits(ip));
        if width != other {
            return false;
        }
        let host_bits = width - self.prefix as u32;
        // A /0 shifts by the whole width: compare nothing.
        host_bits >= width || (net >> host_bits) == (addr >> host_bits)
    }
}

/// Parses the configured proxies (the config checks them at load, so an error here is a bug).
pub fn parse_networks(list: &[String]) -> Result<Vec<Network>, String> {
    list.iter().map(|s| s.parse()).collect()
}

/// The client of a request that reached the service from `peer` with these headers.
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &[Network]) -> IpAddr {
    let peer = peer.to_canonical();
    if !trusted.iter().any(|n| n.contains(peer)) {
        return peer;
    }
    // Several headers count as one list, in order (RFC 9110, 5.3).
    let hops: Vec<&str> = headers.get_all("x-forwarded-for").iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(',')).map(str::trim).collect();
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
    hop.parse::<std::net::SocketAddr>().ok().map(|s| s.ip().to_canonical())
}

/// The client's address (see the module docs).
pub struct ClientAddr(pub IpAddr);

impl FromRequestParts<Arc<App>> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Self, Self::Rejection> {
        let peer = parts.extensions.get::<ConnectInfo<std::net::SocketAddr>>().map_or(IpAddr::from([0, 0, 0, 0]), |c| c.0.ip());
        let trusted = parse_networks(&app.config.server.trusted_proxies).unwrap_or_default();
        Ok(ClientAddr(client_ip(peer, &parts.headers, &trusted)))
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
        parse_networks(&list.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn networks_parse_and_match() {
        let n: Network = "10.0.0.0/8".parse().unwrap();
        assert!(n.contains(ip("10.200.3.4")));
        assert!(!n.contains(ip("11.0.0.1")));
        assert!(!n.contains(ip("::1")), "an IPv6 address is never in an IPv4 network");
        let one: Network = "127.0.0.1".parse().unwrap();
        assert!(one.contains(ip("127.0.0.1")));
        assert!(one.contains(ip("::ffff:127.0.0.1")), "an IPv4-mapped peer is the IPv4 address");
        assert!(!one.contains(ip("127.0.0.2")));
        let v6: Network = "fd00::/8".parse().unwrap();
        assert!(v6.contains(ip("fd12::1")));
        let all: Network = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains(ip("203.0.113.9")));
        for bad in ["10.0.0.0/33", "localhost", "10.0.0/8", "", "::1/129"] {
            assert!(bad.parse::<Network>().is_err(), "{bad:?} is refused");
        }
    }

    #[test]
    fn without_trusted_proxies_the_header_is_ignored() {
        let h = forwarded(&["198.51.100.1"]);
        assert_eq!(client_ip(ip("203.0.113.5"), &h, &[]), ip("203.0.113.5"));
        assert_eq!(client_ip(ip("203.0.113.5"), &h, &nets(&["127.0.0.1"])), ip("203.0.113.5"), "a peer that is not the proxy cannot claim another address");
    }

    #[test]
    fn behind_a_trusted_proxy_the_nearest_untrusted_hop_is_the_client() {
        let trusted = nets(&["127.0.0.1", "10.0.0.0/8"]);
        assert_eq!(client_ip(ip("127.0.0.1"), &forwarded(&["198.51.100.7"]), &trusted), ip("198.51.100.7"));
        // The client wrote its own X-Forwarded-For; nginx appended the real address.
        let spoofed = forwarded(&["1.2.3.4, 198.51.100.7"]);
        assert_eq!(client_ip(ip("127.0.0.1"), &spoofed, &trusted), ip("198.51.100.7"), "only the hops the proxy vouches for are read");
        // Two proxies: a load balancer (10.x) in front of nginx.
        let chained = forwarded(&["198.51.100.7", "10.1.2.3"]);
        assert_eq!(client_ip(ip("127.0.0.1"), &chained, &trusted), ip("198.51.100.7"));
        assert_eq!(client_ip(ip("127.0.0.1"), &forwarded(&["[2001:db8::7]:4431"]), &trusted), ip("2001:db8::7"));
    }

    #[test]
    fn a_missing_or_garbled_header_leaves_the_last_trusted_address() {
        let trusted = nets(&["127.0.0.1", "10.0.0.0/8"]);
        assert_eq!(client_ip(ip("127.0.0.1"), &HeaderMap::new(), &trusted), ip("127.0.0.1"));
        assert_eq!(client_ip(ip("127.0.0.1"), &forwarded(&["198.51.100.7, not-an-address, 10.0.0.9"]), &trusted), ip("10.0.0.9"));
        assert_eq!(client_ip(ip("127.0.0.1"), &forwarded(&["10.0.0.9"]), &trusted), ip("10.0.0.9"), "all hops trusted: the farthest one");
    }
}
