/*
 * dovecot_report - what one request of Dovecot's auth policy client says (see
 * dovecot_report.h): the command, the shared secret, and a report body read by Jansson
 * with duplicate keys refused and its nesting bounded.
 */
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "popauth/dovecot_report.h"
#include "shared/ascii.h"

/* dovecot_report_command - the command named by the query value (NULL if absent) */
enum dovecot_command dovecot_report_command(const char *value)
{
    if (value == NULL)
        return DOVECOT_COMMAND_BAD;
    if (strcmp(value, "allow") == 0)
        return DOVECOT_COMMAND_ALLOW;
    if (strcmp(value, "report") == 0)
        return DOVECOT_COMMAND_REPORT;
    return DOVECOT_COMMAND_BAD;
}

/* dovecot_report_secret_check - "" if secret is usable, else why not */
const char *dovecot_report_secret_check(const char *secret)
{
    size_t i, n = strlen(secret);

    if (n < DOVECOT_REPORT_SECRET_MIN || n > DOVECOT_REPORT_SECRET_MAX)
        return "must be 16 to 256 characters long";
    for (i = 0; i < n; i++)
        if (!ascii_is_alnum((unsigned char)secret[i]) && strchr("+/=._~-", secret[i]) == NULL)
            return "may hold only letters, digits and + / = . _ ~ -";
    return "";
}

/* dovecot_report_secret_ok - constant-time comparison of the header's value with secret */
int dovecot_report_secret_ok(const char *sent, const char *secret)
{
    size_t n = strlen(secret), m, i;
    unsigned char diff = 0;

    if (sent == NULL || n == 0)
        return 0;
    m = strlen(sent);
    for (i = 0; i < n; i++)
        diff |= (unsigned char)(secret[i] ^ (i < m ? sent[i] : 0));
    return diff == 0 && m == n;
}

/* dovecot_report_depth - 1 if no object or array in v nests deeper than depth levels */
static int dovecot_report_depth(json_t *v, int depth)
{
    const char *key;
    json_t *item;
    size_t i;

    if (!json_is_object(v) && !json_is_array(v))
        return 1;
    if (depth == 0)
        return 0;
    if (json_is_object(v)) {
        json_object_foreach(v, key, item) if (!dovecot_report_depth(item, depth - 1)) return 0;
    } else {
        json_array_foreach(v, i, item) if (!dovecot_report_depth(item, depth - 1)) return 0;
    }
    return 1;
}

/* Why a report without INSTALL 5.5's attributes is refused. */
static const char dovecot_report_no_attrs[] =
    "an attribute INSTALL 5.5 asks for (nopassword, nologin, proxy, mech) is missing or not "
    "a string: set auth_policy_request_attributes as it says";

/* dovecot_report_unset - 1 if the string field name of o holds DOVECOT_REPORT_UNSET,
 * 0 if another string, -1 if it is missing or not a string */
static int dovecot_report_unset(json_t *o, const char *name)
{
    json_t *v = json_object_get(o, name);

    if (!json_is_string(v))
        return -1;
    return strcmp(json_string_value(v), DOVECOT_REPORT_UNSET) == 0;
}

/* dovecot_report_checked - whether Dovecot checked a password or credential: 0 if so, 1
 * if it did not (a passdb's nopassword, noauthenticate, nologin or proxy, or the
 * ANONYMOUS mechanism), with *why; -1 with *why if an attribute that says so is missing */
static int dovecot_report_checked(json_t *o, const char **why)
{
    static const char *const fields[] = {"nopassword", "nologin", "proxy"};
    json_t *mech = json_object_get(o, "mech");
    size_t i;
    int rc;

    for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        if ((rc = dovecot_report_unset(o, fields[i])) < 0) {
            *why = dovecot_report_no_attrs;
            return -1;
        }
        if (rc == 0) {
            *why = "the passdb set nopassword, nologin or proxy: no password was checked here";
            return 1;
        }
    }
    if (!json_is_string(mech) || json_string_length(mech) == 0) {
        *why = dovecot_report_no_attrs;
        return -1;
    }
    if (strcasecmp(json_string_value(mech), "ANONYMOUS") == 0) {
        *why = "an anonymous login";
        return 1;
    }
    return 0;
}

/* dovecot_report_fields - check the object's fields and fill out; the verdict */
static enum dovecot_verdict dovecot_report_fields(json_t *o, struct dovecot_report *out,
                                                  const char **why)
{
    json_t *login = json_object_get(o, "login"), *remote = json_object_get(o, "remote");
    json_t *success = json_object_get(o, "success");
    json_t *reject = json_object_get(o, "policy_reject");
    const char *text;
    char canon[ADDR_STRLEN];
    size_t i, n;
    int unchecked;

    if (!json_is_string(login))
        return *why = "field 'login' is missing or not a string", DOVECOT_REPORT_BAD;
    if (!json_is_string(remote))
        return *why = "field 'remote' is missing or not a string", DOVECOT_REPORT_BAD;
    if (!json_is_boolean(success))
        return *why = "field 'success' is missing or not a boolean", DOVECOT_REPORT_BAD;
    if (!json_is_boolean(reject))
        return *why = "field 'policy_reject' is missing or not a boolean", DOVECOT_REPORT_BAD;
    if ((unchecked = dovecot_report_checked(o, why)) < 0)
        return DOVECOT_REPORT_BAD;
    text = json_string_value(remote);
    n = json_string_length(remote);
    if (n > 0) {
        if (addr_parse(text, n, &out->remote, NULL, 0) < 0)
            return *why = "field 'remote' is not an IP address", DOVECOT_REPORT_BAD;
        addr_format(&out->remote, canon, sizeof(canon));
        if (strlen(canon) != n || memcmp(canon, text, n) != 0)
            return *why = "field 'remote' is not in canonical form", DOVECOT_REPORT_BAD;
    }
    n = json_string_length(login);
    if (n > sizeof(out->login) - 1)
        n = sizeof(out->login) - 1;
    for (i = 0; i < n; i++)
        out->login[i] = ascii_user_byte((unsigned char)json_string_value(login)[i]);
    out->login[n] = '\0';
    if (!json_is_true(success))
        return *why = "the authentication failed", DOVECOT_REPORT_NO_GRANT;
    if (json_is_true(reject))
        return *why = "the policy refused the login", DOVECOT_REPORT_NO_GRANT;
    if (unchecked)
        return DOVECOT_REPORT_NO_GRANT; /* *why set by dovecot_report_checked */
    if (json_string_length(remote) == 0)
        return *why = "the login has no client address", DOVECOT_REPORT_NO_GRANT;
    return *why = "", DOVECOT_REPORT_GRANT;
}

/* dovecot_report_parse - read a report body into *out; the verdict and why */
enum dovecot_verdict dovecot_report_parse(const char *body, size_t len, struct dovecot_report *out,
                                          const char **why)
{
    enum dovecot_verdict v;
    json_error_t jerr;
    json_t *o;

    memset(out, 0, sizeof(*out));
    if (len > DOVECOT_REPORT_BODY_MAX)
        return *why = "the body is too large", DOVECOT_REPORT_BAD;
    if (len == 0)
        return *why = "the body is empty", DOVECOT_REPORT_BAD;
    if ((o = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr)) == NULL)
        return *why = "the body is not valid JSON (or repeats a key)", DOVECOT_REPORT_BAD;
    if (!json_is_object(o))
        v = (*why = "the body is not a JSON object", DOVECOT_REPORT_BAD);
    else if (!dovecot_report_depth(o, DOVECOT_REPORT_DEPTH))
        v = (*why = "the body nests objects or arrays too deeply", DOVECOT_REPORT_BAD);
    else
        v = dovecot_report_fields(o, out, why);
    json_decref(o);
    if (v != DOVECOT_REPORT_GRANT)
        memset(&out->remote, 0, sizeof(out->remote));
    return v;
}
