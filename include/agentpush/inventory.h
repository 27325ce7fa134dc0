/*
 * inventory.h - a list of targets read from an inventory file.
 *
 * The format is Ansible's INI inventory, so an existing one works as it is:
 *
 *   # comment            ; comment too
 *   198.18.1.2                       one host per line (see target.h)
 *   root@198.18.1.3:2222 os=linux    optional KEY=VALUE variables
 *   [web]                            a group header
 *   web[01:03].example.com           ranges: [01:03], [a:f], [0:10:2]
 *   w1 ansible_host=198.18.1.4 ansible_port=22 ansible_user=root
 *   [web:vars]                       KEY=VALUE lines applied to the group
 *   ansible_user=admin
 *   [prod:children]                  groups inside a group
 *   web
 *
 * Understood variables: ansible_host, ansible_port, ansible_user (and the old
 * ansible_ssh_host/_port/_user), os=linux|windows|auto, and
 * ansible_connection=winrm|psrp meaning Windows.  Every other variable is
 * kept on the target (struct ap_target vars) and otherwise ignored.
 *
 * Precedence, lowest first: [all:vars], the vars of a group's parents, the
 * group's own vars, the host line's vars.
 *
 * A host (name and port) listed twice in one section is an error naming both
 * lines.  A host listed in several groups, as Ansible allows, is one target
 * (its group is the first one); its host-line variables must then agree.
 *
 * Parsing is linear in the size of the file (hash tables for hosts and
 * groups), so an inventory of many thousands of hosts is fine.
 *
 * Errors: AP_EINVAL with "inventory FILE:LINE: what is wrong" on ctx (one
 * line, input quoted safely); AP_EIO/AP_ENOTFOUND for a file that cannot be
 * read; AP_ENOMEM.
 *
 * Ownership: on success *targets is a malloc'd array of *n_targets targets
 * the caller frees with ap_targets_free(); on failure *targets is NULL and
 * *n_targets 0.
 */
#ifndef AGENTPUSH_INVENTORY_H
#define AGENTPUSH_INVENTORY_H

#include <stddef.h>

#include "agentpush/ctx.h"
#include "agentpush/target.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Reads and parses the inventory file at path (must be a regular file). */
int ap_inventory_load(const char *path, struct ap_target **targets,
                      size_t *n_targets, struct ap_ctx *ctx);

/*
 * Parses an inventory held in memory: len bytes of data (need not be
 * NUL-terminated).  name is used in messages in place of the file name.
 */
int ap_inventory_parse(const char *name, const char *data, size_t len,
                       struct ap_target **targets, size_t *n_targets,
                       struct ap_ctx *ctx);

/*
 * Largest number of hosts one range pattern may expand to.  The inventory
 * fuzzer (tests/fuzz/meson.build) builds the parser with a lower limit:
 * its corpus drifts towards ranges near the limit, each of which made
 * tens of thousands of hosts and took seconds under ASan, so a 10 M run
 * would have taken 4 hours of a core (docs/reliability.md).  The code
 * paths are the same; only where the budget runs out differs.
 */
#ifdef AP_FUZZ_INVENTORY_RANGE_MAX
#define AP_INVENTORY_RANGE_MAX AP_FUZZ_INVENTORY_RANGE_MAX
#else
#define AP_INVENTORY_RANGE_MAX 65536
#endif

#ifdef __cplusplus
}
#endif
#endif /* AGENTPUSH_INVENTORY_H */
