/*
 * The container's seccomp filter, built with libseccomp (linked statically into
 * wharf-init) from the compact list runtime/security/seccomp.ts makes of a Docker
 * profile. Spec keys (see that file's header):
 *
 *   seccomp       "<action> <errno>"      the default action; absent: no filter
 *   seccomp_arch  "<arch>"                x86_64, x86, x32 ... (repeated)
 *   seccomp_rule  "<action> <errno> <n> [<index> <op> <value> <valueTwo>]*n <name>..."
 *
 * Building a filter for x86_64 + x86 + x32 takes libseccomp ~10 ms, too much for every
 * start, so the runtime builds it once per (profile, capabilities) with
 * `wharf-init --seccomp-bpf` (the keys above on stdin, the BPF program on stdout) and
 * hands the program to each start:
 *
 *   seccomp_bpf   the program's struct sock_filter array, hex
 *
 * which wharf_seccomp_load() installs with one prctl. Without it, the keys above are
 * compiled and loaded in place.
 *
 * As runc does: a syscall name this libseccomp does not know is skipped; a rule with
 * two conditions on the same argument becomes one rule per condition (libseccomp
 * refuses such a rule, and the profile means "any of them"); the filter does not
 * set no_new_privs itself (SCMP_FLTATR_CTL_NNP off): that is --security-opt's call.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "seccomp.h"

#define MAX_RULES 1024
#define MAX_ARCHES 8

static char *default_action, *bpf_hex;
static char *arches[MAX_ARCHES];
static int n_arches;
static char *rules[MAX_RULES];
static int n_rules;

int wharf_seccomp_spec(const char *key, char *value) {
  if (!strcmp(key, "seccomp")) default_action = value;
  else if (!strcmp(key, "seccomp_bpf")) bpf_hex = value;
  else if (!strcmp(key, "seccomp_arch")) {
    if (n_arches >= MAX_ARCHES) return -E2BIG;
    arches[n_arches++] = value;
  } else if (!strcmp(key, "seccomp_rule")) {
    if (n_rules >= MAX_RULES) return -E2BIG;
    rules[n_rules++] = value;
  } else return 0;
  return 1;
}

int wharf_seccomp_enabled(void) { return default_action != NULL || bpf_hex != NULL; }

static int parse_action(const char *word, const char *errno_s, uint32_t *out) {
  long e = strtol(errno_s, NULL, 10);
  if (!strcmp(word, "allow")) *out = SCMP_ACT_ALLOW;
  else if (!strcmp(word, "errno")) *out = SCMP_ACT_ERRNO((uint16_t)e);
  else if (!strcmp(word, "kill")) *out = SCMP_ACT_KILL;
  else if (!strcmp(word, "kill_process")) *out = SCMP_ACT_KILL_PROCESS;
  else if (!strcmp(word, "trap")) *out = SCMP_ACT_TRAP;
  else if (!strcmp(word, "trace")) *out = SCMP_ACT_TRACE((uint16_t)e);
  else if (!strcmp(word, "log")) *out = SCMP_ACT_LOG;
  else return -EINVAL;
  return 0;
}

static int parse_op(const char *s, enum scmp_compare *op) {
  static const struct { const char *name; enum scmp_compare op; } ops[] = {
    {"ne", SCMP_CMP_NE}, {"lt", SCMP_CMP_LT}, {"le", SCMP_CMP_LE}, {"eq", SCMP_CMP_EQ},
    {"ge", SCMP_CMP_GE}, {"gt", SCMP_CMP_GT}, {"me", SCMP_CMP_MASKED_EQ},
  };
  for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
    if (!strcmp(s, ops[i].name)) { *op = ops[i].op; return 0; }
  return -EINVAL;
}

#define FAIL(err, ...) do { snprintf(msg, msg_size, __VA_ARGS__); r = (err); goto out; } while (0)

static int add_rule(scmp_filter_ctx ctx, char *spec, char *msg, size_t msg_size) {
  char *save = NULL, *tok[4];
  struct scmp_arg_cmp conds[6];
  int r = 0;
  char *act_s = strtok_r(spec, " ", &save), *errno_s = strtok_r(NULL, " ", &save), *n_s = strtok_r(NULL, " ", &save);
  uint32_t act;
  if (!n_s || parse_action(act_s, errno_s, &act) < 0) FAIL(-EINVAL, "bad seccomp rule");
  int n = atoi(n_s), seen[6] = {0}, split = 0;
  if (n < 0 || n > 6) FAIL(-EINVAL, "bad seccomp rule: %d conditions", n);
  for (int i = 0; i < n; i++) {
    for (int j = 0; j < 4; j++)
      if (!(tok[j] = strtok_r(NULL, " ", &save))) FAIL(-EINVAL, "bad seccomp condition");
    unsigned idx = (unsigned)atoi(tok[0]);
    enum scmp_compare op;
    if (idx > 5 || parse_op(tok[1], &op) < 0) FAIL(-EINVAL, "bad seccomp condition %s %s", tok[0], tok[1]);
    conds[i] = (struct scmp_arg_cmp){idx, op, strtoull(tok[2], NULL, 10), strtoull(tok[3], NULL, 10)};
    if (seen[idx]++) split = 1;
  }
  for (char *name; (name = strtok_r(NULL, " ", &save));) {
    int nr = seccomp_syscall_resolve_name(name);
    if (nr == __NR_SCMP_ERROR) continue; /* unknown to this libseccomp: skipped, as runc does */
    if (!split) r = seccomp_rule_add_array(ctx, act, nr, (unsigned)n, conds);
    else
      for (int i = 0; i < n && r == 0; i++) r = seccomp_rule_add_array(ctx, act, nr, 1, &conds[i]);
    if (r < 0) FAIL(r, "seccomp rule for %s", name);
  }
out:
  return r;
}

static int build(scmp_filter_ctx *out, char *msg, size_t msg_size) {
  int r = 0;
  char *save = NULL;
  char *word = strtok_r(default_action, " ", &save), *errno_s = strtok_r(NULL, " ", &save);
  uint32_t def;
  *out = NULL;
  if (!errno_s || parse_action(word, errno_s, &def) < 0) {
    snprintf(msg, msg_size, "bad seccomp default action");
    return -EINVAL;
  }
  scmp_filter_ctx ctx = seccomp_init(def);
  if (!ctx) {
    snprintf(msg, msg_size, "seccomp_init");
    return -ENOMEM;
  }
  if ((r = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0)) < 0) FAIL(r, "seccomp: no_new_privs attribute");
  for (int i = 0; i < n_arches; i++) {
    uint32_t a = seccomp_arch_resolve_name(arches[i]);
    if (a == 0) FAIL(-EINVAL, "seccomp: unknown architecture %s", arches[i]);
    r = seccomp_arch_add(ctx, a);
    if (r < 0 && r != -EEXIST) FAIL(r, "seccomp: add architecture %s", arches[i]);
    r = 0;
  }
  for (int i = 0; i < n_rules; i++)
    if ((r = add_rule(ctx, rules[i], msg, msg_size)) < 0) goto out;
out:
  if (r < 0) seccomp_release(ctx);
  else *out = ctx;
  return r;
}

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

/* Installs the prebuilt program: one prctl, nothing to allocate but the buffer. */
static int load_bpf(char *msg, size_t msg_size) {
  size_t len = strlen(bpf_hex);
  if (len == 0 || len % (2 * sizeof(struct sock_filter)) != 0) {
    snprintf(msg, msg_size, "seccomp program of %zu hex digits", len);
    return -EINVAL;
  }
  /* Decoded in place: the hex string is twice as long as the bytes. */
  unsigned char *bytes = (unsigned char *)bpf_hex;
  for (size_t i = 0; i < len / 2; i++) {
    int hi = hexval(bpf_hex[2 * i]), lo = hexval(bpf_hex[2 * i + 1]);
    if (hi < 0 || lo < 0) {
      snprintf(msg, msg_size, "seccomp program is not hex");
      return -EINVAL;
    }
    bytes[i] = (unsigned char)(hi << 4 | lo);
  }
  struct sock_filter *insns = malloc(len / 2);
  if (!insns) return -ENOMEM;
  memcpy(insns, bytes, len / 2);
  struct sock_fprog prog = {(unsigned short)(len / 2 / sizeof(struct sock_filter)), insns};
  if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) < 0) {
    int e = errno;
    snprintf(msg, msg_size, "prctl(PR_SET_SECCOMP)");
    return -e;
  }
  return 0;
}

int wharf_seccomp_load(char *msg, size_t msg_size) {
  if (bpf_hex) return load_bpf(msg, msg_size);
  if (!default_action) return 0;
  scmp_filter_ctx ctx;
  int r = build(&ctx, msg, msg_size);
  if (r < 0) return r;
  if ((r = seccomp_load(ctx)) < 0) snprintf(msg, msg_size, "seccomp_load");
  seccomp_release(ctx);
  return r;
}

/* `wharf-init --seccomp-bpf`: spec pairs on stdin, the program on stdout. */
int wharf_seccomp_export_main(void) {
  size_t cap = 1 << 16, len = 0;
  char *buf = malloc(cap + 1), msg[200];
  for (;;) {
    if (!buf) return 2;
    ssize_t n = read(0, buf + len, cap - len);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return 2;
    if (n == 0) break;
    len += (size_t)n;
    if (len == cap) buf = realloc(buf, (cap *= 2) + 1);
  }
  buf[len] = 0;
  for (char *p = buf, *end = buf + len; p < end;) {
    char *k = p;
    p += strlen(p) + 1;
    if (p >= end) break;
    char *v = p;
    p += strlen(p) + 1;
    if (wharf_seccomp_spec(k, v) <= 0) {
      fprintf(stderr, "wharf-init --seccomp-bpf: unexpected key %s\n", k);
      return 2;
    }
  }
  if (!default_action) {
    fprintf(stderr, "wharf-init --seccomp-bpf: no default action\n");
    return 2;
  }
  scmp_filter_ctx ctx;
  int r = build(&ctx, msg, sizeof msg);
  if (r == 0) {
    r = seccomp_export_bpf(ctx, 1);
    if (r < 0) snprintf(msg, sizeof msg, "seccomp_export_bpf");
    seccomp_release(ctx);
  }
  if (r < 0) {
    fprintf(stderr, "wharf-init --seccomp-bpf: %s: %s\n", msg, strerror(-r));
    return 1;
  }
  return 0;
}
