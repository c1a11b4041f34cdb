/*
 * privilege - giving up root after start-up. A daemon opens what needs root first
 * (listening ports below 1024, the capture handle, its files), then calls
 * privilege_drop with run_user, then starts its watchers. Supplementary groups, the group
 * and the user change as one step, and the drop is checked: a process that could regain
 * root afterwards is an error, never a warning.
 */
#ifndef POPAUTH_PRIVILEGE_H
#define POPAUTH_PRIVILEGE_H

#include <stddef.h>

/*
 * privilege_drop - become user (name or numeric uid) with its primary group and no
 * supplementary groups, then clear every capability (ambient ones from a service
 * manager too). An empty user keeps the current user: root is kept with a warning in the
 * log; any other user only loses its capabilities. -1 and err naming the user if the user
 * is unknown or is root, or if any step fails; the caller treats that as fatal.
 */
int privilege_drop(const char *user, char *err, size_t errlen);

#endif
