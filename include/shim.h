/* C helpers the Rust side calls: what Asterisk only offers as macros or static structures. */
#ifndef MULTIREG_SHIM_H
#define MULTIREG_SHIM_H

#include <pjsip.h>

struct ast_module;
struct mansession;

/* Severity for multireg_shim_log; mapped to Asterisk's __LOG_* levels in the shim. */
enum multireg_shim_severity {
	MULTIREG_SEVERITY_DEBUG = 0,
	MULTIREG_SEVERITY_NOTICE = 1,
	MULTIREG_SEVERITY_WARNING = 2,
	MULTIREG_SEVERITY_ERROR = 3,
};

/* Logs one already-formatted message; the text is never used as a format string. */
void multireg_shim_log(int severity, const char *file, int line, const char *function, const char *message);
/* Whether ast_debug(level, ...) would print for this module. */
int multireg_shim_debug_enabled(int level);

/* The PJSIP service that sees each authenticated REGISTER just before the registrar. */
int multireg_shim_register_services(void);
void multireg_shim_unregister_services(void);

/* CLI commands (table in shim.c); each dispatches to multireg_cli_execute(index, ...). */
enum multireg_cli_command {
	MULTIREG_CLI_SHOW_EXTENSIONS = 0,
	MULTIREG_CLI_SHOW_EXTENSION = 1,
	MULTIREG_CLI_SET_RINGMODE = 2,
	MULTIREG_CLI_SHOW_BLOCKS = 3,
	MULTIREG_CLI_CLEAR_BLOCKS = 4,
	MULTIREG_CLI_SHOW_STATS = 5,
	/* Remote logout (issue 12). */
	MULTIREG_CLI_LOGOUT = 6,
	MULTIREG_CLI_CLEAR_LOGOUTS = 7,
};
int multireg_shim_register_cli(void);
void multireg_shim_unregister_cli(void);
/* Prints text to a CLI file descriptor through a constant "%s" format. */
void multireg_shim_cli_print(int fd, const char *text);

/* Dialplan applications and functions; each dispatches to Rust with its index. */
enum multireg_dialplan_item {
	MULTIREG_APP_RINGMODE = 0,
	MULTIREG_APP_MULTIREGDIAL = 1,
	MULTIREG_FUNC_MULTIREG_DIAL = 2,
	MULTIREG_FUNC_RING_MODE = 3,
};
/* All or nothing: a failure leaves nothing of ours registered. */
int multireg_shim_register_dialplan(void);
/* ast_str helpers for MULTIREG_DIAL's read2 (ast_str_set is a variadic inline). */
struct ast_str;
size_t multireg_shim_str_size(struct ast_str *buf);
void multireg_shim_str_set(struct ast_str **buf, ssize_t max_len, const char *text);
void multireg_shim_unregister_dialplan(void);

/* AMI actions (all dispatch to multireg_ami_execute) and events. */
int multireg_shim_register_manager(void);
void multireg_shim_unregister_manager(void);
void multireg_shim_ami_append(struct mansession *s, const char *text);
void multireg_shim_manager_event(const char *event, const char *body);

/* Sorcery observer: called after res_pjsip (re)loads its endpoints, so we re-read pjsip.conf. */
int multireg_shim_observe_pjsip(void);
void multireg_shim_unobserve_pjsip(void);

/* Secondary ("101r") objects live in a memory wizard mapped after pjsip.conf for auth, aor and
 * endpoint. type_index: 0 auth, 1 aor, 2 endpoint. */
/* The sorcery wizard holding the secondaries (include/secondary_store.c). */
#define MULTIREG_SECONDARY_WIZARD "multireg_secondaries"
int multireg_shim_store_register(void);
void multireg_shim_store_unregister(void);
int multireg_shim_secondary_setup(void);
void multireg_shim_secondary_teardown(void);
int multireg_shim_secondary_put(int type_index, const char *id, const char *const *names, const char *const *values, int count);
int multireg_shim_secondary_delete(int type_index, const char *id);
/* 1 if the object exists in our memory wizard, 0 if not. */
int multireg_shim_secondary_owned(int type_index, const char *id);
/* 1 if res_pjsip finds an object of that type and id that is not ours (a hand-made one). */
int multireg_shim_secondary_foreign(int type_index, const char *id);
/* An endpoint's complete access rules, one "field\tvalue\n" line each (acl/deny/permit and the
 * contact_ forms), in the order Asterisk applies them; NULL if there is no such endpoint. Free
 * with multireg_shim_free. */
char *multireg_shim_endpoint_acl_rules(const char *id);
void multireg_shim_free(void *pointer);

/* A second PJSIP module before the authenticator: refuses requests from blocked addresses, and
 * notes the nonce and destination of every digest challenge (401) Asterisk sends. */

/* SIP URIs (pjsip inline functions and macros). */
int multireg_shim_uri_is_sip(const pjsip_uri *uri);
/* Copies an IPv4 (4 bytes) or IPv6 (16 bytes) address into `out` (room for 16), network order;
 * returns how many bytes, 0 for any other family. */
int multireg_shim_sockaddr_bytes(const pj_sockaddr *address, unsigned char *out);
const pjsip_sip_uri *multireg_shim_sip_uri(const pjsip_uri *uri);
/* The Contact URI as the registrar stores it; -1 when it does not fit in size bytes. */
int multireg_shim_contact_uri_print(const pjsip_uri *uri, char *buf, size_t size);
/* 1 when two stored Contact URIs are equal by pjsip_uri_cmp (the registrar's comparison). */
int multireg_shim_contact_uris_equal(const char *a, const char *b);

/* Sorcery observer on contacts: deletions reach multireg_on_contact_deleted. */
int multireg_shim_observe_contacts(void);
void multireg_shim_unobserve_contacts(void);

/* Outcome passed to multireg_on_auth_event. */
enum multireg_auth_outcome {
	MULTIREG_AUTH_FAILED = 1,
	MULTIREG_AUTH_SUCCEEDED = 2,
};

/* Stasis observers, run in the publishing thread (stasis_observers.c): PJSIP security events,
 * and app_queue's QueueMemberAdded (handed to a serializer on res_pjsip's pool). */
int multireg_shim_subscribe_security(void);
void multireg_shim_unsubscribe_security(void);
int multireg_shim_subscribe_queues(void);
void multireg_shim_unsubscribe_queues(void);

/* Serialized work without a thread of the module's own: a serializer on res_pjsip's thread
 * pool. Ending one waits for the tasks queued on it, so none runs after the module is gone. */
struct ast_taskprocessor;
struct ast_taskprocessor *multireg_shim_pool_serializer(const char *name);
void multireg_shim_end_serializer(struct ast_taskprocessor **serializer);

/* The module's background work (a pool serializer): each queue call runs
 * multireg_on_background_work once; stop waits for what is queued. */
int multireg_shim_background_start(void);
int multireg_shim_background_queue(void);
void multireg_shim_background_stop(void);

/* Runs an AMI action inside Asterisk and returns its response text (free with
 * multireg_shim_free), or NULL. Sees only that action's response, never other AMI traffic. */
char *multireg_shim_run_action(const char *message);

/* Busy lamp (issue 12): the "Multireg" device state provider (Multireg:<extension>) and an
 * observer of device state changes (include/stasis_observers.c): each aggregate state change of a
 * PJSIP/ device reaches multireg_on_device_state. All or nothing. */
int multireg_shim_busy_lamp_start(void);
void multireg_shim_busy_lamp_stop(void);
int multireg_shim_observe_device_states(void);
void multireg_shim_stop_observing_device_states(void);
/* ast_devstate_changed(AST_DEVICE_UNKNOWN, cachable, "Multireg:%s", extension). */
void multireg_shim_busy_lamp_changed(const char *extension);
/* Every dialplan hint's device list that names a Multireg: device, one per line; NULL if none.
 * Free with multireg_shim_free. */
char *multireg_shim_multireg_hints(void);
/* 1 if Asterisk's device state cache holds Multireg:<extension> (its state was announced before). */
int multireg_shim_busy_lamp_cached(const char *extension);
/* Of the channel of that name: bit 0 set if it is in a bridge, bit 1 if it is answered (Up);
 * -1 if there is no such channel. */
int multireg_shim_channel_progress(const char *name);


/* ---- RFC 8599 push wake-up (module/push_wake.rs) ---- */
/* The hidden application run on the Local channel that wakes a device; dispatches to
 * multireg_app_execute with this index. */
enum multireg_push_item {
	MULTIREG_APP_PUSHWAKE = 40,
};
/* Registers MultiregPushWake and creates the dialplan context `context` (extension _X.,
 * priority 1: MultiregPushWake(${EXTEN})) with this module as registrar; all or nothing. */
int multireg_shim_register_push(void);
void multireg_shim_unregister_push(void);

#endif
