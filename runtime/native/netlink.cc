// netlink: the few rtnetlink requests bridge networking needs, so that a container start
// sets its network up without spawning `ip` (runtime/network/ decides everything; this
// file only speaks the protocol). Synchronous: each call is a handful of round trips to
// the kernel (well under a millisecond). A failure throws an Error with `errno` and
// `syscall` (the request that failed, e.g. "RTM_NEWLINK veth").
//
//   netnsCreate(path)               a new network namespace, held by a bind mount of its
//                                   nsfs file on `path` (an existing empty file), as
//                                   `ip netns add` does; made on a short-lived thread
//                                   (unshare(CLONE_NEWNET) affects the calling thread
//                                   only), so Node's threads never change namespace.
//   bridgeEnsure(name, ip, prefix)  a bridge `name` (created when missing), `ip/prefix` on
//                                   it (kept when present), up.
//   vethAttach(o)                   a veth pair: `o.host` on bridge `o.bridge`, up (and, with
//                                   `o.isolated`, a bridge port that cannot talk to other
//                                   isolated ports); its peer created directly inside the
//                                   namespace file `o.netns` as `o.peer` with MAC `o.mac`
//                                   (6 bytes); inside: lo up, `o.ip/o.prefix` on the peer,
//                                   the peer up, the default route via `o.gateway` (when
//                                   not empty). The in-namespace part runs on a
//                                   short-lived thread that setns()es there.
//   linkDelete(name)                deletes a link; false when there is none.
#include <napi.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_bridge.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <net/if.h>
#include <sched.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <thread>

#include "netlink.h"

namespace {

struct Failure {
  int err = 0;
  const char *what = "";
  bool failed() const { return err != 0; }
  void set(int e, const char *w) {
    if (!err) {
      err = e;
      what = w;
    }
  }
};

Napi::Error NetlinkError(Napi::Env env, const Failure &f, const std::string &detail) {
  Napi::Error e = Napi::Error::New(env, std::string(f.what) + ": " + strerror(f.err) + (detail.empty() ? "" : " (" + detail + ")"));
  e.Set("errno", Napi::Number::New(env, f.err));
  e.Set("syscall", Napi::String::New(env, f.what));
  return e;
}

/** One request: header, family header, attributes (nested ones by begin/end). */
class Msg {
 public:
  Msg(int type, int flags) {
    memset(buf_, 0, sizeof buf_);
    h()->nlmsg_len = NLMSG_LENGTH(0);
    h()->nlmsg_type = type;
    h()->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | flags;
  }
  nlmsghdr *h() { return reinterpret_cast<nlmsghdr *>(buf_); }
  void put(const void *data, size_t len) {
    size_t off = NLMSG_ALIGN(h()->nlmsg_len);
    memcpy(buf_ + off, data, len);
    h()->nlmsg_len = off + len;
  }
  void attr(int type, const void *data, size_t len) {
    size_t off = NLMSG_ALIGN(h()->nlmsg_len);
    rtattr *a = reinterpret_cast<rtattr *>(buf_ + off);
    a->rta_type = type;
    a->rta_len = RTA_LENGTH(len);
    if (len) memcpy(RTA_DATA(a), data, len);
    h()->nlmsg_len = off + RTA_ALIGN(a->rta_len);
  }
  void str(int type, const std::string &s) { attr(type, s.c_str(), s.size() + 1); }
  void u32(int type, uint32_t v) { attr(type, &v, sizeof v); }
  size_t begin(int type) {
    size_t off = NLMSG_ALIGN(h()->nlmsg_len);
    attr(type | NLA_F_NESTED, nullptr, 0);
    return off;
  }
  void end(size_t off) { reinterpret_cast<rtattr *>(buf_ + off)->rta_len = h()->nlmsg_len - off; }

 private:
  alignas(NLMSG_ALIGNTO) char buf_[2048];
};

int Open() { return socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE); }

/** Sends one request and reads its ack: 0, or the positive errno the kernel answered. */
int Talk(int fd, Msg &m) {
  static uint32_t seq = 0;
  m.h()->nlmsg_seq = ++seq;
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  ssize_t n;
  do n = sendto(fd, m.h(), m.h()->nlmsg_len, 0, reinterpret_cast<sockaddr *>(&kernel), sizeof kernel);
  while (n < 0 && errno == EINTR);
  if (n < 0) return errno;
  alignas(NLMSG_ALIGNTO) char rb[8192];
  for (;;) {
    do n = recv(fd, rb, sizeof rb, 0);
    while (n < 0 && errno == EINTR);
    if (n < 0) return errno;
    for (nlmsghdr *r = reinterpret_cast<nlmsghdr *>(rb); NLMSG_OK(r, static_cast<unsigned>(n)); r = NLMSG_NEXT(r, n)) {
      if (r->nlmsg_seq != m.h()->nlmsg_seq) continue;
      if (r->nlmsg_type == NLMSG_ERROR) return -reinterpret_cast<nlmsgerr *>(NLMSG_DATA(r))->error;
    }
  }
}

int LinkUp(int fd, int index) {
  Msg m(RTM_NEWLINK, 0);
  ifinfomsg ifi{};
  ifi.ifi_family = AF_UNSPEC;
  ifi.ifi_index = index;
  ifi.ifi_flags = IFF_UP;
  ifi.ifi_change = IFF_UP;
  m.put(&ifi, sizeof ifi);
  return Talk(fd, m);
}

int AddAddress(int fd, int index, in_addr ip, int prefix) {
  Msg m(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL);
  ifaddrmsg ifa{};
  ifa.ifa_family = AF_INET;
  ifa.ifa_prefixlen = prefix;
  ifa.ifa_scope = RT_SCOPE_UNIVERSE;
  ifa.ifa_index = index;
  m.put(&ifa, sizeof ifa);
  m.attr(IFA_LOCAL, &ip, 4);
  m.attr(IFA_ADDRESS, &ip, 4);
  in_addr brd = ip;
  if (prefix < 31) brd.s_addr = ip.s_addr | htonl(prefix == 0 ? 0xffffffffu : (0xffffffffu >> prefix));
  m.attr(IFA_BROADCAST, &brd, 4);
  return Talk(fd, m);
}

int AddDefaultRoute(int fd, int index, in_addr gw) {
  Msg m(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL);
  rtmsg rt{};
  rt.rtm_family = AF_INET;
  rt.rtm_table = RT_TABLE_MAIN;
  rt.rtm_protocol = RTPROT_BOOT;
  rt.rtm_scope = RT_SCOPE_UNIVERSE;
  rt.rtm_type = RTN_UNICAST;
  m.put(&rt, sizeof rt);
  m.attr(RTA_GATEWAY, &gw, 4);
  m.u32(RTA_OIF, index);
  return Talk(fd, m);
}

std::string Str(const Napi::Object &o, const char *key) {
  Napi::Value v = o.Get(key);
  if (!v.IsString()) throw Napi::TypeError::New(o.Env(), std::string("vethAttach: ") + key + " must be a string");
  return v.As<Napi::String>().Utf8Value();
}

in_addr Ip(Napi::Env env, const std::string &s) {
  in_addr a{};
  if (inet_pton(AF_INET, s.c_str(), &a) != 1) throw Napi::TypeError::New(env, "not an IPv4 address: " + s);
  return a;
}

Napi::Value NetnsCreate(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) throw Napi::TypeError::New(env, "netnsCreate(path: string)");
  std::string path = info[0].As<Napi::String>().Utf8Value();
  Failure f;
  std::thread t([&] {
    if (unshare(CLONE_NEWNET) < 0) return f.set(errno, "unshare(CLONE_NEWNET)");
    if (mount("/proc/thread-self/ns/net", path.c_str(), nullptr, MS_BIND, nullptr) < 0) f.set(errno, "mount nsfs");
  });
  t.join();
  if (f.failed()) throw NetlinkError(env, f, path);
  return env.Undefined();
}

Napi::Value BridgeEnsure(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsString() || !info[1].IsString() || !info[2].IsNumber()) {
    throw Napi::TypeError::New(env, "bridgeEnsure(name: string, ip: string, prefix: number)");
  }
  std::string name = info[0].As<Napi::String>().Utf8Value();
  in_addr ip = Ip(env, info[1].As<Napi::String>().Utf8Value());
  int prefix = info[2].As<Napi::Number>().Int32Value();
  Failure f;
  int fd = Open();
  if (fd < 0) {
    f.set(errno, "socket(NETLINK_ROUTE)");
    throw NetlinkError(env, f, name);
  }
  {
    Msg m(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
    ifinfomsg ifi{};
    ifi.ifi_family = AF_UNSPEC;
    m.put(&ifi, sizeof ifi);
    m.str(IFLA_IFNAME, name);
    size_t li = m.begin(IFLA_LINKINFO);
    m.str(IFLA_INFO_KIND, "bridge");
    m.end(li);
    int e = Talk(fd, m);
    if (e && e != EEXIST) f.set(e, "RTM_NEWLINK bridge");
  }
  int index = f.failed() ? 0 : if_nametoindex(name.c_str());
  if (!f.failed() && index == 0) f.set(errno, "if_nametoindex");
  if (!f.failed()) {
    int e = AddAddress(fd, index, ip, prefix);
    if (e && e != EEXIST) f.set(e, "RTM_NEWADDR bridge");
  }
  if (!f.failed()) {
    int e = LinkUp(fd, index);
    if (e) f.set(e, "RTM_NEWLINK up");
  }
  close(fd);
  if (f.failed()) throw NetlinkError(env, f, name);
  return env.Undefined();
}

Napi::Value VethAttach(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject()) throw Napi::TypeError::New(env, "vethAttach(options: object)");
  Napi::Object o = info[0].As<Napi::Object>();
  std::string host = Str(o, "host"), peer = Str(o, "peer"), netns = Str(o, "netns"), bridge = Str(o, "bridge");
  in_addr ip = Ip(env, Str(o, "ip"));
  std::string gwText = Str(o, "gateway");
  in_addr gw{};
  if (!gwText.empty()) gw = Ip(env, gwText);
  int prefix = o.Get("prefix").As<Napi::Number>().Int32Value();
  bool isolated = o.Get("isolated").ToBoolean().Value();
  Napi::Value macV = o.Get("mac");
  if (!macV.IsBuffer() || macV.As<Napi::Buffer<uint8_t>>().Length() != 6) throw Napi::TypeError::New(env, "vethAttach: mac must be a 6-byte Buffer");
  uint8_t mac[6];
  memcpy(mac, macV.As<Napi::Buffer<uint8_t>>().Data(), 6);

  Failure f;
  int master = if_nametoindex(bridge.c_str());
  if (master == 0) {
    f.set(errno, "if_nametoindex bridge");
    throw NetlinkError(env, f, bridge);
  }
  int nsfd = open(netns.c_str(), O_RDONLY | O_CLOEXEC);
  if (nsfd < 0) {
    f.set(errno, "open netns");
    throw NetlinkError(env, f, netns);
  }
  int fd = Open();
  if (fd < 0) f.set(errno, "socket(NETLINK_ROUTE)");
  if (!f.failed()) {
    Msg m(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
    ifinfomsg ifi{};
    ifi.ifi_family = AF_UNSPEC;
    ifi.ifi_flags = IFF_UP;
    ifi.ifi_change = IFF_UP;
    m.put(&ifi, sizeof ifi);
    m.str(IFLA_IFNAME, host);
    m.u32(IFLA_MASTER, master);
    size_t li = m.begin(IFLA_LINKINFO);
    m.str(IFLA_INFO_KIND, "veth");
    size_t data = m.begin(IFLA_INFO_DATA);
    size_t p = m.begin(VETH_INFO_PEER);
    ifinfomsg pi{};
    pi.ifi_family = AF_UNSPEC;
    m.put(&pi, sizeof pi);
    m.str(IFLA_IFNAME, peer);
    m.u32(IFLA_NET_NS_FD, nsfd);
    m.attr(IFLA_ADDRESS, mac, 6);
    m.end(p);
    m.end(data);
    m.end(li);
    int e = Talk(fd, m);
    if (e) f.set(e, "RTM_NEWLINK veth");
  }
  if (!f.failed() && isolated) {
    int index = if_nametoindex(host.c_str());
    Msg m(RTM_SETLINK, 0);
    ifinfomsg ifi{};
    ifi.ifi_family = AF_BRIDGE;
    ifi.ifi_index = index;
    m.put(&ifi, sizeof ifi);
    size_t pr = m.begin(IFLA_PROTINFO);
    uint8_t on = 1;
    m.attr(IFLA_BRPORT_ISOLATED, &on, 1);
    m.end(pr);
    int e = index == 0 ? ENODEV : Talk(fd, m);
    if (e) f.set(e, "RTM_SETLINK isolated");
  }
  if (fd >= 0) close(fd);
  if (!f.failed()) {
    std::thread t([&] {
      if (setns(nsfd, CLONE_NEWNET) < 0) return f.set(errno, "setns");
      int nfd = Open();
      if (nfd < 0) return f.set(errno, "socket(NETLINK_ROUTE) in netns");
      int e = LinkUp(nfd, 1);
      if (e) f.set(e, "RTM_NEWLINK lo up");
      int index = if_nametoindex(peer.c_str());
      if (!f.failed() && index == 0) f.set(errno, "if_nametoindex peer");
      if (!f.failed() && (e = AddAddress(nfd, index, ip, prefix))) f.set(e, "RTM_NEWADDR");
      if (!f.failed() && (e = LinkUp(nfd, index))) f.set(e, "RTM_NEWLINK peer up");
      if (!f.failed() && !gwText.empty() && (e = AddDefaultRoute(nfd, index, gw))) f.set(e, "RTM_NEWROUTE default");
      close(nfd);
    });
    t.join();
  }
  close(nsfd);
  if (f.failed()) throw NetlinkError(env, f, host);
  return env.Undefined();
}

Napi::Value LinkDelete(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) throw Napi::TypeError::New(env, "linkDelete(name: string)");
  std::string name = info[0].As<Napi::String>().Utf8Value();
  Failure f;
  int fd = Open();
  if (fd < 0) {
    f.set(errno, "socket(NETLINK_ROUTE)");
    throw NetlinkError(env, f, name);
  }
  Msg m(RTM_DELLINK, 0);
  ifinfomsg ifi{};
  ifi.ifi_family = AF_UNSPEC;
  m.put(&ifi, sizeof ifi);
  m.str(IFLA_IFNAME, name);
  int e = Talk(fd, m);
  close(fd);
  if (e == ENODEV) return Napi::Boolean::New(env, false);
  if (e) {
    f.set(e, "RTM_DELLINK");
    throw NetlinkError(env, f, name);
  }
  return Napi::Boolean::New(env, true);
}

}  // namespace

void RegisterNetlink(Napi::Env env, Napi::Object exports) {
  exports.Set("netnsCreate", Napi::Function::New(env, NetnsCreate, "netnsCreate"));
  exports.Set("bridgeEnsure", Napi::Function::New(env, BridgeEnsure, "bridgeEnsure"));
  exports.Set("vethAttach", Napi::Function::New(env, VethAttach, "vethAttach"));
  exports.Set("linkDelete", Napi::Function::New(env, LinkDelete, "linkDelete"));
}
