/*
 * privilege - giving up root. A daemon opens what needs root first (listening ports
 * below 1024, the capture handle, its files), then calls privilege_drop with run_user,
 * then starts its watchers. An admin tool run as root calls privilege_become_owner before
 * it opens a file that belongs to a service, so that whatever it creates there belongs to
 * that service too. Supplementary groups, the group and the user change as one step, and
 * the change is checked: a process that could regain root afterwards is an error, never
 * a warning.
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

/*
 * privilege_become_owner - as root, become the user who owns path (or, while path does
 * not exist, the directory that would hold it), with that user's primary and
 * supplementary groups, for good. Does nothing when not root, when the owner is root,
 * or when neither path nor its directory can be read (opening path will say why).
 * -1 and err naming the owner if the owner has no user name or cannot be switched to.
 */
int privilege_become_owner(const char *path, char *err, size_t errlen);
/*
 * privilege_check - 0 if privilege_drop could become user, as far as can be told without
 * trying: the user is known and is not root (an empty user is fine); -1 and err as
 * privilege_drop would say it otherwise. Changes nothing.
 */
int privilege_check(const char *user, char *err, size_t errlen);

#endif
