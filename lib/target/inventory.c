/*
 * inventory.c - Ansible-style INI inventory parser (see inventory.h).
 *
 * Design: one pass over the lines builds hosts and groups, each found in a
 * hash table by name, so the pass is linear.  Group variables may come
 * before or after the hosts they apply to, so variables are resolved in a
 * second pass per host: [all:vars], then for each group of the host its
 * ancestors (depth first, each group once, which also stops cycles), then
 * the group, then the host line.  The last writer of a key wins.
 *
 * Host lines are split like a POSIX shell would (Ansible uses shlex): white
 * space separates tokens, '...' and "..." quote, a backslash escapes, and a
 * '#' at the start of a token begins a comment.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agentpush/inventory.h"

#define INV_FILE_MAX (64u * 1024 * 1024)

struct ivar {
	char *key;
	char *value;
	int line;
};

struct varlist {
	struct ivar *v;
	size_t n, cap;
};

struct idxlist {
	size_t *v;
	size_t n, cap;
};

struct ihost {
	char *key;           /* "host:port", the identity for duplicates */
	struct ap_target t;  /* parsed from the host token */
	int line;            /* first line naming it */
	struct varlist vars; /* from host lines */
	struct idxlist groups;
	int ungrouped;       /* listed outside any group */
};

struct igroup {
	char *name;
	struct varlist vars;
	struct idxlist parents;
	unsigned stamp;
};

/* Open addressing; a slot holds index+1, 0 is empty. */
struct strmap {
	size_t *slot;
	size_t cap;
	size_t n;
};

struct inv {
	const char *name;   /* quoted file name for messages */
	struct ap_ctx *ctx;
	struct ihost *hosts;
	size_t n_hosts, cap_hosts;
	struct igroup *groups;
	size_t n_groups, cap_groups;
	struct strmap host_map, group_map;
	unsigned stamp;
};

/* An effective variable while resolving: borrowed strings. */
struct evar {
	const char *key;
	const char *value;
	int line;
	size_t seq;   /* when it was last set: higher wins between aliases */
};

struct evars {
	struct evar *v;
	size_t n, cap;
	size_t seq;
};

static int
grow(void **p, size_t *cap, size_t need, size_t elem)
{
	size_t ncap;
	void *np;

	if (need <= *cap)
		return AP_OK;
	ncap = *cap != 0 ? *cap * 2 : 8;
	while (ncap < need)
		ncap *= 2;
	if ((np = reallocarray(*p, ncap, elem)) == NULL)
		return AP_ENOMEM;
	*p = np;
	*cap = ncap;
	return AP_OK;
}

static uint64_t
hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ULL;

	for (; *s != '\0'; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ULL;
	}
	return h;
}

typedef const char *(*key_of_fn)(const struct inv *inv, size_t idx);

static const char *
host_key(const struct inv *inv, size_t i)
{
	return inv->hosts[i].key;
}

static const char *
group_key(const struct inv *inv, size_t i)
{
	return inv->groups[i].name;
}

/* Returns the index of key, or SIZE_MAX. */
static size_t
map_find(const struct inv *inv, const struct strmap *m, key_of_fn key_of,
         const char *key)
{
	size_t i;

	if (m->cap == 0)
		return SIZE_MAX;
	for (i = hash_str(key) & (m->cap - 1); m->slot[i] != 0;
	     i = (i + 1) & (m->cap - 1))
		if (strcmp(key_of(inv, m->slot[i] - 1), key) == 0)
			return m->slot[i] - 1;
	return SIZE_MAX;
}

static void
map_put_raw(const struct inv *inv, struct strmap *m, key_of_fn key_of,
            size_t idx)
{
	size_t i;

	for (i = hash_str(key_of(inv, idx)) & (m->cap - 1); m->slot[i] != 0;
	     i = (i + 1) & (m->cap - 1))
		;
	m->slot[i] = idx + 1;
}

static int
map_put(const struct inv *inv, struct strmap *m, key_of_fn key_of, size_t idx)
{
	if ((m->n + 1) * 2 > m->cap) {
		size_t ncap = m->cap != 0 ? m->cap * 2 : 64, i;
		struct strmap nm = {NULL, ncap, m->n};

		if ((nm.slot = calloc(ncap, sizeof(*nm.slot))) == NULL)
			return AP_ENOMEM;
		for (i = 0; i < m->cap; i++)
			if (m->slot[i] != 0)
				map_put_raw(inv, &nm, key_of, m->slot[i] - 1);
		free(m->slot);
		*m = nm;
	}
	map_put_raw(inv, m, key_of, idx);
	m->n++;
	return AP_OK;
}

static int
varlist_set(struct varlist *l, const char *key, const char *value, int line)
{
	size_t i;
	char *v;

	for (i = 0; i < l->n; i++) {
		if (strcmp(l->v[i].key, key) == 0) {
			if ((v = strdup(value)) == NULL)
				return AP_ENOMEM;
			free(l->v[i].value);
			l->v[i].value = v;
			l->v[i].line = line;
			return AP_OK;
		}
	}
	if (grow((void **)&l->v, &l->cap, l->n + 1, sizeof(*l->v)) != AP_OK)
		return AP_ENOMEM;
	l->v[l->n].key = strdup(key);
	l->v[l->n].value = strdup(value);
	l->v[l->n].line = line;
	if (l->v[l->n].key == NULL || l->v[l->n].value == NULL) {
		free(l->v[l->n].key);
		free(l->v[l->n].value);
		return AP_ENOMEM;
	}
	l->n++;
	return AP_OK;
}

static void
varlist_free(struct varlist *l)
{
	size_t i;

	for (i = 0; i < l->n; i++) {
		free(l->v[i].key);
		free(l->v[i].value);
	}
	free(l->v);
}

static int
idx_add(struct idxlist *l, size_t v)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		if (l->v[i] == v)
			return AP_OK;
	if (grow((void **)&l->v, &l->cap, l->n + 1, sizeof(*l->v)) != AP_OK)
		return AP_ENOMEM;
	l->v[l->n++] = v;
	return AP_OK;
}

static int
idx_has(const struct idxlist *l, size_t v)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		if (l->v[i] == v)
			return 1;
	return 0;
}

static void
inv_free(struct inv *inv)
{
	size_t i;

	for (i = 0; i < inv->n_hosts; i++) {
		free(inv->hosts[i].key);
		ap_target_clear(&inv->hosts[i].t);
		varlist_free(&inv->hosts[i].vars);
		free(inv->hosts[i].groups.v);
	}
	free(inv->hosts);
	for (i = 0; i < inv->n_groups; i++) {
		free(inv->groups[i].name);
		varlist_free(&inv->groups[i].vars);
		free(inv->groups[i].parents.v);
	}
	free(inv->groups);
	free(inv->host_map.slot);
	free(inv->group_map.slot);
}

static int
fail_line(struct inv *inv, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int
fail_line(struct inv *inv, int line, const char *fmt, ...)
{
	char what[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	return ap_ctx_fail(inv->ctx, AP_EINVAL, 0, "inventory %s:%d: %s",
	                   inv->name, line, what);
}

/* Finds or creates group name; *idx gets its index. */
static int
group_get(struct inv *inv, const char *name, size_t *idx)
{
	struct igroup *g;
	size_t i = map_find(inv, &inv->group_map, group_key, name);

	if (i != SIZE_MAX) {
		*idx = i;
		return AP_OK;
	}
	if (grow((void **)&inv->groups, &inv->cap_groups, inv->n_groups + 1,
	         sizeof(*inv->groups)) != AP_OK)
		return AP_ENOMEM;
	g = &inv->groups[inv->n_groups];
	memset(g, 0, sizeof(*g));
	if ((g->name = strdup(name)) == NULL)
		return AP_ENOMEM;
	inv->n_groups++;
	if (map_put(inv, &inv->group_map, group_key, inv->n_groups - 1) != AP_OK)
		return AP_ENOMEM;
	*idx = inv->n_groups - 1;
	return AP_OK;
}

/*
 * Splits the next shell-like token from *p into out (at least strlen(*p)+1
 * bytes).  Returns 1 with a token, 0 at the end of the line or a comment,
 * -1 on an unterminated quote.
 */
static int
next_token(const char **p, char *out)
{
	const char *s = *p;
	size_t o = 0;

	while (*s == ' ' || *s == '\t')
		s++;
	if (*s == '\0' || *s == '#')
		return 0;
	while (*s != '\0' && *s != ' ' && *s != '\t') {
		if (*s == '\'') {
			for (s++; *s != '\'' && *s != '\0'; s++)
				out[o++] = *s;
			if (*s == '\0')
				return -1;
			s++;
		} else if (*s == '"') {
			for (s++; *s != '"' && *s != '\0'; s++) {
				if (*s == '\\' && (s[1] == '"' || s[1] == '\\'))
					s++;
				out[o++] = *s;
			}
			if (*s == '\0')
				return -1;
			s++;
		} else if (*s == '\\' && s[1] != '\0') {
			out[o++] = s[1];
			s += 2;
		} else {
			out[o++] = *s++;
		}
	}
	out[o] = '\0';
	*p = s;
	return 1;
}

/* A range "[a:b]" or "[a:b:step]" found at pat[open..close]. */
struct range {
	size_t open, close;
	long beg, end, step;
	int alpha, width;
};

static int
all_digits(const char *s, size_t n)
{
	size_t i;

	if (n == 0 || n > 9)
		return 0;
	for (i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return 0;
	return 1;
}

static int
is_letter(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/*
 * Finds the first range in pat.  Returns 1 and fills *rg, 0 when there is
 * none (IPv6 brackets are not ranges), -1 when it is malformed.
 */
static int
find_range(const char *pat, struct range *rg)
{
	const char *o, *c, *c1, *c2;

	for (o = strchr(pat, '['); o != NULL; o = strchr(o + 1, '[')) {
		if ((c = strchr(o, ']')) == NULL)
			return 0;
		c1 = memchr(o, ':', (size_t)(c - o));
		if (c1 == NULL || c1 == o + 1 || c1 + 1 == c)
			continue;
		c2 = memchr(c1 + 1, ':', (size_t)(c - c1 - 1));
		memset(rg, 0, sizeof(*rg));
		rg->open = (size_t)(o - pat);
		rg->close = (size_t)(c - pat);
		rg->step = 1;
		if (c2 != NULL) {
			if (c2 + 1 == c || !all_digits(c2 + 1, (size_t)(c - c2 - 1)))
				continue; /* e.g. an IPv6 address */
			rg->step = strtol(c2 + 1, NULL, 10);
		} else {
			c2 = c;
		}
		if (all_digits(o + 1, (size_t)(c1 - o - 1)) &&
		    all_digits(c1 + 1, (size_t)(c2 - c1 - 1))) {
			rg->beg = strtol(o + 1, NULL, 10);
			rg->end = strtol(c1 + 1, NULL, 10);
			if (o[1] == '0' && c1 - o - 1 > 1)
				rg->width = (int)(c1 - o - 1);
		} else if (c1 - o == 2 && c2 - c1 == 2 && is_letter(o[1]) &&
		           is_letter(c1[1])) {
			rg->alpha = 1;
			rg->beg = (unsigned char)o[1];
			rg->end = (unsigned char)c1[1];
		} else {
			continue;
		}
		if (rg->step < 1 || rg->end < rg->beg)
			return -1;
		return 1;
	}
	return 0;
}

static int add_host(struct inv *inv, const char *spec, size_t group, int line,
                    const struct varlist *vars, size_t *budget);

/* Expands every range in pat and adds each host. */
static int
expand(struct inv *inv, const char *pat, size_t group, int line,
       const struct varlist *vars, size_t *budget)
{
	struct range rg;
	char *buf = NULL;
	size_t n, prefix;
	long v;
	int r, fr;

	if ((fr = find_range(pat, &rg)) == 0)
		return add_host(inv, pat, group, line, vars, budget);
	if (fr < 0)
		return fail_line(inv, line,
		                 "host range must go up, with a step of at least 1");
	n = strlen(pat) + 16;
	if ((buf = malloc(n)) == NULL)
		return AP_ENOMEM;
	prefix = rg.open;
	r = AP_OK;
	for (v = rg.beg; v <= rg.end; v += rg.step) {
		int k;

		if (*budget == 0) {
			r = fail_line(inv, line,
			              "host range expands to more than %d hosts",
			              AP_INVENTORY_RANGE_MAX);
			break;
		}
		memcpy(buf, pat, prefix);
		if (rg.alpha)
			k = snprintf(buf + prefix, n - prefix, "%c%s", (int)v,
			             pat + rg.close + 1);
		else
			k = snprintf(buf + prefix, n - prefix, "%0*ld%s", rg.width, v,
			             pat + rg.close + 1);
		if (k < 0 || (size_t)k >= n - prefix) {
			r = AP_EINTERNAL;
			break;
		}
		if ((r = expand(inv, buf, group, line, vars, budget)) != AP_OK)
			break;
	}
	free(buf);
	return r;
}

static int
add_host(struct inv *inv, const char *spec, size_t group, int line,
         const struct varlist *vars, size_t *budget)
{
	struct ap_target t = {0};
	struct ihost *h;
	char *key = NULL;
	size_t i, j, klen;
	int r;

	(*budget)--;
	if ((r = ap_target_parse(spec, &t, inv->ctx)) != AP_OK) {
		if (r == AP_EINVAL)
			r = fail_line(inv, line, "%s", ap_ctx_errmsg(inv->ctx));
		goto out;
	}
	klen = strlen(t.host) + 8;
	r = AP_ENOMEM;
	if ((key = malloc(klen)) == NULL)
		goto out;
	snprintf(key, klen, "%s:%d", t.host, t.port);

	i = map_find(inv, &inv->host_map, host_key, key);
	if (i != SIZE_MAX) {
		h = &inv->hosts[i];
		if (group == SIZE_MAX ? h->ungrouped : idx_has(&h->groups, group)) {
			char q[128];

			ap_target_quote(spec, q, sizeof(q));
			r = fail_line(inv, line, "host '%s' is listed twice (lines %d and %d)",
			              q, h->line, line);
			goto out;
		}
		for (j = 0; j < vars->n; j++) {
			size_t k;

			for (k = 0; k < h->vars.n; k++) {
				if (strcmp(h->vars.v[k].key, vars->v[j].key) == 0 &&
				    strcmp(h->vars.v[k].value, vars->v[j].value) != 0) {
					char q[128];

					ap_target_quote(spec, q, sizeof(q));
					r = fail_line(inv, line,
					              "host '%s' is given two values of '%s' (lines %d and %d)",
					              q, vars->v[j].key, h->vars.v[k].line, line);
					goto out;
				}
			}
			if ((r = varlist_set(&h->vars, vars->v[j].key, vars->v[j].value,
			                     vars->v[j].line)) != AP_OK)
				goto out;
		}
		if (group == SIZE_MAX)
			h->ungrouped = 1;
		else if ((r = idx_add(&h->groups, group)) != AP_OK)
			goto out;
		r = AP_OK;
		goto out;
	}

	if (grow((void **)&inv->hosts, &inv->cap_hosts, inv->n_hosts + 1,
	         sizeof(*inv->hosts)) != AP_OK)
		goto out;
	h = &inv->hosts[inv->n_hosts];
	memset(h, 0, sizeof(*h));
	h->key = key;
	key = NULL; /* transferred */
	h->t = t;
	memset(&t, 0, sizeof(t)); /* transferred */
	h->line = line;
	h->ungrouped = group == SIZE_MAX;
	inv->n_hosts++;
	if (group != SIZE_MAX && (r = idx_add(&h->groups, group)) != AP_OK)
		goto out;
	for (j = 0; j < vars->n; j++)
		if ((r = varlist_set(&h->vars, vars->v[j].key, vars->v[j].value,
		                     vars->v[j].line)) != AP_OK)
			goto out;
	if ((r = map_put(inv, &inv->host_map, host_key, inv->n_hosts - 1)) != AP_OK)
		goto out;
	r = AP_OK;
out:
	free(key);
	ap_target_clear(&t);
	return r;
}

enum section { SEC_HOSTS, SEC_VARS, SEC_CHILDREN };

static void
trim(char **s)
{
	char *e;

	while (**s == ' ' || **s == '\t')
		(*s)++;
	e = *s + strlen(*s);
	while (e > *s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
		*--e = '\0';
}

static int
parse_header(struct inv *inv, char *s, int line, enum section *sec,
             size_t *group)
{
	char *close = strchr(s, ']'), *colon, *rest, q[64];
	size_t i;

	if (close == NULL)
		return fail_line(inv, line, "'[' without a closing ']'");
	rest = close + 1;
	trim(&rest);
	if (*rest != '\0' && *rest != '#' && *rest != ';')
		return fail_line(inv, line, "text after the closing ']'");
	*close = '\0';
	s++;
	*sec = SEC_HOSTS;
	if ((colon = strchr(s, ':')) != NULL) {
		*colon = '\0';
		if (strcmp(colon + 1, "vars") == 0) {
			*sec = SEC_VARS;
		} else if (strcmp(colon + 1, "children") == 0) {
			*sec = SEC_CHILDREN;
		} else {
			ap_target_quote(colon + 1, q, sizeof(q));
			return fail_line(inv, line,
			                 "unknown section kind ':%s' (expected ':vars' or ':children')",
			                 q);
		}
	}
	if (*s == '\0')
		return fail_line(inv, line, "group name is empty");
	for (i = 0; s[i] != '\0'; i++)
		if ((unsigned char)s[i] <= ' ' || s[i] == 0x7f)
			return fail_line(inv, line,
			                 "group name holds white space or a control character");
	return group_get(inv, s, group);
}

static int
parse_host_line(struct inv *inv, const char *s, size_t group, int line,
                char *tok, char *pat, size_t *budget)
{
	struct varlist vars = {0};
	int r, k;
	char q[128];

	k = next_token(&s, pat);
	if (k < 0)
		return fail_line(inv, line, "a quote is not closed");
	if (k == 0)
		return AP_OK;
	while ((k = next_token(&s, tok)) > 0) {
		char *eq = strchr(tok, '=');

		if (eq == NULL || eq == tok) {
			ap_target_quote(tok, q, sizeof(q));
			r = fail_line(inv, line, "expected KEY=VALUE after the host, got '%s'",
			              q);
			goto out;
		}
		*eq = '\0';
		if ((r = varlist_set(&vars, tok, eq + 1, line)) != AP_OK)
			goto out;
	}
	if (k < 0) {
		r = fail_line(inv, line, "a quote is not closed");
		goto out;
	}
	r = expand(inv, pat, group, line, &vars, budget);
out:
	varlist_free(&vars);
	return r;
}

static int
parse_var_line(struct inv *inv, char *s, size_t group, int line)
{
	char *eq = strchr(s, '='), *key = s, *val, q[128];
	size_t n;

	if (eq == NULL) {
		ap_target_quote(s, q, sizeof(q));
		return fail_line(inv, line, "expected KEY=VALUE in a :vars section, got '%s'",
		                 q);
	}
	*eq = '\0';
	val = eq + 1;
	trim(&key);
	trim(&val);
	if (*key == '\0')
		return fail_line(inv, line, "variable name before '=' is empty");
	if (strpbrk(key, " \t") != NULL)
		return fail_line(inv, line, "variable name holds white space");
	n = strlen(val);
	if (n >= 2 && (val[0] == '"' || val[0] == '\'') && val[n - 1] == val[0]) {
		val[n - 1] = '\0';
		val++;
	}
	return varlist_set(&inv->groups[group].vars, key, val, line);
}

static int
parse_child_line(struct inv *inv, char *s, size_t group, int line)
{
	size_t child;
	int r;

	if (strpbrk(s, " \t") != NULL) {
		char *sp = strpbrk(s, " \t"), *rest = sp;

		trim(&rest);
		if (*rest != '#' && *rest != ';')
			return fail_line(inv, line,
			                 "expected one group name in a :children section");
		*sp = '\0';
	}
	if ((r = group_get(inv, s, &child)) != AP_OK)
		return r;
	if (child == group)
		return fail_line(inv, line, "group '%s' is listed as its own child",
		                 inv->groups[group].name);
	return idx_add(&inv->groups[child].parents, group);
}

/*
 * Whether a line starting with '[' is a section header.  A header holds at
 * most one ':' ([g], [g:vars]); a line like [2001:db8::1]:22 is a host.
 */
static int
header_like(const char *s)
{
	const char *close = strchr(s, ']'), *c;
	int colons = 0;

	if (close == NULL)
		return 1;
	for (c = s; c < close; c++)
		colons += *c == ':';
	return colons <= 1;
}

static int
parse_lines(struct inv *inv, const char *data, size_t len)
{
	enum section sec = SEC_HOSTS;
	size_t group = SIZE_MAX, pos = 0, budget;
	char *line = NULL, *tok = NULL, *pat = NULL;
	int lineno = 0, r = AP_OK;

	if (memchr(data, '\0', len) != NULL) {
		const char *z = memchr(data, '\0', len);
		const char *c;
		int l = 1;

		for (c = data; c < z; c++)
			l += *c == '\n';
		return fail_line(inv, l, "holds a NUL byte (not a text file?)");
	}
	while (pos < len) {
		const char *nl = memchr(data + pos, '\n', len - pos);
		size_t n = nl != NULL ? (size_t)(nl - (data + pos)) : len - pos;
		char *s;

		lineno++;
		free(line);
		free(tok);
		free(pat);
		tok = pat = NULL;
		r = AP_ENOMEM;
		if ((line = strndup(data + pos, n)) == NULL)
			goto out;
		pos += n + 1;
		s = line;
		trim(&s);
		if (*s == '\0' || *s == '#' || *s == ';')
			continue;
		if (*s == '[' && header_like(s)) {
			if ((r = parse_header(inv, s, lineno, &sec, &group)) != AP_OK)
				goto out;
			continue;
		}
		switch (sec) {
		case SEC_HOSTS:
			r = AP_ENOMEM;
			if ((tok = malloc(n + 1)) == NULL || (pat = malloc(n + 1)) == NULL)
				goto out;
			budget = AP_INVENTORY_RANGE_MAX;
			r = parse_host_line(inv, s, group, lineno, tok, pat, &budget);
			break;
		case SEC_VARS:
			r = parse_var_line(inv, s, group, lineno);
			break;
		case SEC_CHILDREN:
			r = parse_child_line(inv, s, group, lineno);
			break;
		}
		if (r != AP_OK)
			goto out;
	}
	r = AP_OK;
out:
	free(line);
	free(tok);
	free(pat);
	return r;
}

static int
evars_set(struct evars *e, const char *key, const char *value, int line)
{
	size_t i;

	for (i = 0; i < e->n; i++) {
		if (strcmp(e->v[i].key, key) == 0) {
			e->v[i].value = value;
			e->v[i].line = line;
			e->v[i].seq = ++e->seq;
			return AP_OK;
		}
	}
	if (grow((void **)&e->v, &e->cap, e->n + 1, sizeof(*e->v)) != AP_OK)
		return AP_ENOMEM;
	e->v[e->n].key = key;
	e->v[e->n].value = value;
	e->v[e->n].line = line;
	e->v[e->n].seq = ++e->seq;
	e->n++;
	return AP_OK;
}

static int
evars_apply(struct evars *e, const struct varlist *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		if (evars_set(e, l->v[i].key, l->v[i].value, l->v[i].line) != AP_OK)
			return AP_ENOMEM;
	return AP_OK;
}

/* Applies group g's ancestors, then g; each group once per host. */
static int
apply_group(struct inv *inv, struct evars *e, size_t g, int depth)
{
	struct igroup *gr = &inv->groups[g];
	size_t i;

	if (gr->stamp == inv->stamp || depth > 64)
		return AP_OK;
	gr->stamp = inv->stamp;
	for (i = 0; i < gr->parents.n; i++)
		if (apply_group(inv, e, gr->parents.v[i], depth + 1) != AP_OK)
			return AP_ENOMEM;
	return evars_apply(e, &gr->vars);
}

/* The value of k1 or its alias k2, whichever was set with more precedence. */
static const struct evar *
evars_get(const struct evars *e, const char *k1, const char *k2)
{
	size_t i;
	const struct evar *found = NULL;

	for (i = 0; i < e->n; i++) {
		if (strcmp(e->v[i].key, k1) != 0 &&
		    (k2 == NULL || strcmp(e->v[i].key, k2) != 0))
			continue;
		if (found == NULL || e->v[i].seq > found->seq)
			found = &e->v[i];
	}
	return found;
}

/* Turns host i into a finished target in *out. */
static int
resolve_host(struct inv *inv, size_t i, struct evars *e, struct ap_target *out)
{
	struct ihost *h = &inv->hosts[i];
	const struct evar *v;
	size_t k, all;
	char q[128];
	int r;

	e->n = 0;
	inv->stamp++;
	all = map_find(inv, &inv->group_map, group_key, "all");
	if (all != SIZE_MAX && (r = apply_group(inv, e, all, 0)) != AP_OK)
		return r;
	for (k = 0; k < h->groups.n; k++)
		if ((r = apply_group(inv, e, h->groups.v[k], 0)) != AP_OK)
			return r;
	if ((r = evars_apply(e, &h->vars)) != AP_OK)
		return r;

	*out = h->t;
	memset(&h->t, 0, sizeof(h->t)); /* transferred */
	if ((v = evars_get(e, "ansible_host", "ansible_ssh_host")) != NULL) {
		char *nh;

		if (!ap_target_host_valid(v->value)) {
			ap_target_quote(v->value, q, sizeof(q));
			return fail_line(inv, v->line,
			                 "%s '%s' is not a valid host name or address",
			                 v->key, q);
		}
		if ((nh = strdup(v->value)) == NULL)
			return AP_ENOMEM;
		free(out->host);
		out->host = nh;
	}
	if ((v = evars_get(e, "ansible_port", "ansible_ssh_port")) != NULL &&
	    ap_target_port_parse(v->value, &out->port) != AP_OK) {
		ap_target_quote(v->value, q, sizeof(q));
		return fail_line(inv, v->line, "%s '%s' is not a number from 1 to 65535",
		                 v->key, q);
	}
	if ((v = evars_get(e, "ansible_user", "ansible_ssh_user")) != NULL) {
		char *nu;

		if (!ap_target_user_valid(v->value)) {
			ap_target_quote(v->value, q, sizeof(q));
			return fail_line(inv, v->line,
			                 "%s '%s' is not an acceptable user name", v->key, q);
		}
		if ((nu = strdup(v->value)) == NULL)
			return AP_ENOMEM;
		free(out->user);
		out->user = nu;
	}
	if ((v = evars_get(e, "os", NULL)) != NULL) {
		if (ap_os_parse(v->value, &out->os) != AP_OK) {
			ap_target_quote(v->value, q, sizeof(q));
			return fail_line(inv, v->line,
			                 "os '%s' is not one of linux, windows, auto", q);
		}
	} else if ((v = evars_get(e, "ansible_connection", NULL)) != NULL &&
	           (strcmp(v->value, "winrm") == 0 || strcmp(v->value, "psrp") == 0)) {
		out->os = AP_OS_WINDOWS;
	}
	/* Only the WinRM transports agentpush speaks; a list ("ntlm,kerberos")
	 * would leave it to choose, and Kerberos asked for is Kerberos only. */
	if ((v = evars_get(e, "ansible_winrm_transport", NULL)) != NULL &&
	    strcmp(v->value, "basic") != 0 && strcmp(v->value, "ntlm") != 0 &&
	    strcmp(v->value, "kerberos") != 0) {
		ap_target_quote(v->value, q, sizeof(q));
		return fail_line(inv, v->line,
		                 "ansible_winrm_transport '%s' is not one of basic, ntlm, kerberos",
		                 q);
	}
	if (h->groups.n > 0 &&
	    (out->group = strdup(inv->groups[h->groups.v[0]].name)) == NULL)
		return AP_ENOMEM;
	if (e->n > 0) {
		if ((out->vars = calloc(e->n, sizeof(*out->vars))) == NULL)
			return AP_ENOMEM;
		for (k = 0; k < e->n; k++) {
			out->vars[k].key = strdup(e->v[k].key);
			out->vars[k].value = strdup(e->v[k].value);
			out->n_vars++;
			if (out->vars[k].key == NULL || out->vars[k].value == NULL)
				return AP_ENOMEM;
		}
	}
	return AP_OK;
}

int
ap_inventory_parse(const char *name, const char *data, size_t len,
                   struct ap_target **targets, size_t *n_targets,
                   struct ap_ctx *ctx)
{
	struct inv inv = {0};
	struct evars e = {0};
	struct ap_target *out = NULL;
	size_t i, n = 0;
	char qname[256];
	int r;

	if (targets != NULL)
		*targets = NULL;
	if (n_targets != NULL)
		*n_targets = 0;
	if (targets == NULL || n_targets == NULL || (data == NULL && len > 0))
		return ap_ctx_fail(ctx, AP_EINVAL, 0, "inventory: bad arguments");
	ap_target_quote(name != NULL ? name : "-", qname, sizeof(qname));
	inv.name = qname;
	inv.ctx = ctx;
	if ((r = parse_lines(&inv, data != NULL ? data : "", len)) != AP_OK)
		goto out;
	if (inv.n_hosts > 0 &&
	    (out = calloc(inv.n_hosts, sizeof(*out))) == NULL) {
		r = AP_ENOMEM;
		goto out;
	}
	for (i = 0; i < inv.n_hosts; i++) {
		n = i + 1;
		if ((r = resolve_host(&inv, i, &e, &out[i])) != AP_OK)
			goto out;
	}
	*targets = out;
	*n_targets = n;
	out = NULL; /* transferred */
	r = AP_OK;
out:
	if (r == AP_ENOMEM)
		ap_ctx_fail(ctx, AP_ENOMEM, 0, "inventory %s: out of memory", qname);
	ap_targets_free(out, n);
	free(e.v);
	inv_free(&inv);
	return r;
}

int
ap_inventory_load(const char *path, struct ap_target **targets,
                  size_t *n_targets, struct ap_ctx *ctx)
{
	struct stat st;
	char *buf = NULL, q[256];
	size_t len = 0;
	ssize_t k;
	int fd = -1, r;

	if (targets != NULL)
		*targets = NULL;
	if (n_targets != NULL)
		*n_targets = 0;
	ap_target_quote(path != NULL ? path : "", q, sizeof(q));
	if (path == NULL || path[0] == '\0')
		return ap_ctx_fail(ctx, AP_EINVAL, 0, "inventory: no file name given");
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		r = ap_ctx_fail(ctx, errno == ENOENT ? AP_ENOTFOUND : AP_EIO, 0,
		                "inventory %s: cannot open: %s", q, strerror(errno));
		goto out;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		r = ap_ctx_fail(ctx, AP_EIO, 0, "inventory %s: not a regular file", q);
		goto out;
	}
	if ((uintmax_t)st.st_size > INV_FILE_MAX) {
		r = ap_ctx_fail(ctx, AP_EINVAL, 0, "inventory %s: larger than 64 MiB", q);
		goto out;
	}
	if ((buf = malloc((size_t)st.st_size + 1)) == NULL) {
		r = ap_ctx_fail(ctx, AP_ENOMEM, 0, "inventory %s: out of memory", q);
		goto out;
	}
	while (len < (size_t)st.st_size) {
		k = read(fd, buf + len, (size_t)st.st_size - len);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0) {
			r = ap_ctx_fail(ctx, AP_EIO, 0, "inventory %s: cannot read: %s", q,
			                strerror(errno));
			goto out;
		}
		if (k == 0)
			break;
		len += (size_t)k;
	}
	r = ap_inventory_parse(path, buf, len, targets, n_targets, ctx);
out:
	if (fd >= 0)
		close(fd);
	free(buf);
	return r;
}
