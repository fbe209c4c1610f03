/*
 * The C side of res_pjsip_multireg: the real AST_MODULE_INFO (so the build-option checksum and
 * module self symbol are Asterisk's own), the static tables Asterisk needs (CLI, AMI, dialplan,
 * PJSIP modules, observers) and one-line wrappers for what Asterisk offers only as macros or inline
 * functions. Decisions are made in Rust; the C here only registers, forwards and undoes.
 */
#include <asterisk.h>
#include <asterisk/module.h>
#include <asterisk/logger.h>
#include <asterisk/res_pjsip.h>
#include <asterisk/cli.h>
#include <asterisk/manager.h>
#include <asterisk/pbx.h>
#include <asterisk/sorcery.h>
#include <asterisk/stasis.h>
#include <asterisk/json.h>
#include <asterisk/security_events.h>
#include <asterisk/options.h>
#include <asterisk/acl.h>
#include <asterisk/lock.h>
#include <asterisk/strings.h>
#include <asterisk/devicestate.h>
#include <asterisk/channel.h>
#include <asterisk/taskprocessor.h>
#include "shim.h"

/* Implemented in Rust (src/asterisk/entry.rs); each is panic-guarded there. */
extern int multireg_load_module(void);
extern int multireg_unload_module(void);
extern int multireg_reload_module(void);
extern pj_bool_t multireg_on_rx_request(pjsip_rx_data *rdata);
extern void multireg_on_tx_response(pjsip_tx_data *tdata);
extern int multireg_cli_execute(int command, int fd, int argc, const char * const *argv);
extern char *multireg_cli_candidates(int command, int position, const char *word);
extern void multireg_cli_candidates_free(char *candidates, size_t length);
extern int multireg_app_execute(int app, struct ast_channel *chan, const char *data);
extern int multireg_function_read(int function, struct ast_channel *chan, const char *data, char *buf, size_t len);
extern int multireg_function_write(int function, struct ast_channel *chan, const char *data, const char *value);
extern int multireg_ami_execute(struct mansession *s, const struct message *m);
extern void multireg_on_pjsip_loaded(const char *object_type);
extern pj_bool_t multireg_on_rx_early(pjsip_rx_data *rdata);
extern void multireg_on_contact_deleted(const void *contact);
extern void multireg_on_challenge_sent(const unsigned char *address, int address_length, const char *nonce, int nonce_length);
extern int multireg_dial_read_fixed(struct ast_channel *chan, const char *data, char *buf, size_t len);
extern int multireg_devstate(const char *extension);
extern void multireg_on_background_work(void);
extern int multireg_dial_read_str(struct ast_channel *chan, const char *data, struct ast_str **buf, ssize_t len);

void multireg_shim_log(int severity, const char *file, int line, const char *function, const char *message)
{
	switch (severity) {
	case MULTIREG_SEVERITY_ERROR:
		ast_log(__LOG_ERROR, file, line, function, "%s\n", message);
		break;
	case MULTIREG_SEVERITY_WARNING:
		ast_log(__LOG_WARNING, file, line, function, "%s\n", message);
		break;
	case MULTIREG_SEVERITY_NOTICE:
		ast_log(__LOG_NOTICE, file, line, function, "%s\n", message);
		break;
	default:
		ast_log(__LOG_DEBUG, file, line, function, "%s\n", message);
		break;
	}
}

int multireg_shim_debug_enabled(int level)
{
	return DEBUG_ATLEAST(level) ? 1 : 0;
}

static pj_bool_t shim_on_rx_request(pjsip_rx_data *rdata)
{
	return multireg_on_rx_request(rdata);
}

static pj_status_t shim_on_tx_response(pjsip_tx_data *tdata)
{
	multireg_on_tx_response(tdata);
	return PJ_SUCCESS;
}

/* One below the registrar (APPLICATION) and above the authenticator (APPLICATION-2): each REGISTER
 * reaching us is already authenticated and not yet stored. */
static pjsip_module multireg_pjsip_module = {
	.name = { "mod-multireg", 12 },
	.id = -1,
	.priority = PJSIP_MOD_PRIORITY_APPLICATION - 1,
	.on_rx_request = shim_on_rx_request,
	/* Sees the registrar's answer, so a device it refused stops holding a slot at once. */
	.on_tx_response = shim_on_tx_response,
};


/* ---- SIP URIs: pjsip offers these as inline functions and macros ---- */
int multireg_shim_uri_is_sip(const pjsip_uri *uri)
{
	return uri && (PJSIP_URI_SCHEME_IS_SIP(uri) || PJSIP_URI_SCHEME_IS_SIPS(uri));
}

const pjsip_sip_uri *multireg_shim_sip_uri(const pjsip_uri *uri)
{
	return uri ? pjsip_uri_get_uri(uri) : NULL;
}

int multireg_shim_contact_uri_print(const pjsip_uri *uri, char *buf, size_t size)
{
	return pjsip_uri_print(PJSIP_URI_IN_CONTACT_HDR, pjsip_uri_get_uri(uri), buf, size);
}

int multireg_shim_contact_uris_equal(const char *a, const char *b)
{
	pj_pool_t *pool = pjsip_endpt_create_pool(ast_sip_get_pjsip_endpoint(), "multireg uri compare", 512, 512);
	pj_str_t text_a;
	pj_str_t text_b;
	pjsip_uri *uri_a;
	pjsip_uri *uri_b;
	int equal = 0;

	if (!pool) {
		return 0;
	}
	/* The parser may write into its buffer: parse copies. */
	pj_strdup2_with_null(pool, &text_a, a);
	pj_strdup2_with_null(pool, &text_b, b);
	uri_a = pjsip_parse_uri(pool, text_a.ptr, text_a.slen, 0);
	uri_b = pjsip_parse_uri(pool, text_b.ptr, text_b.slen, 0);
	if (uri_a && uri_b) {
		equal = pjsip_uri_cmp(PJSIP_URI_IN_CONTACT_HDR, uri_a, uri_b) == PJ_SUCCESS;
	}
	pjsip_endpt_release_pool(ast_sip_get_pjsip_endpoint(), pool);
	return equal;
}

/* ---- contacts removed from the location store ---- */
static void contact_deleted(const void *object)
{
	multireg_on_contact_deleted(object);
}

static const struct ast_sorcery_observer contact_observer = {
	.deleted = contact_deleted,
};

int multireg_shim_observe_contacts(void)
{
	return ast_sorcery_observer_add(ast_sip_get_sorcery(), "contact", &contact_observer);
}

void multireg_shim_unobserve_contacts(void)
{
	ast_sorcery_observer_remove(ast_sip_get_sorcery(), "contact", &contact_observer);
}

/* ---- CLI ---- */
struct cli_command_text {
	const char *command;
	const char *usage;
};

static const struct cli_command_text cli_texts[] = {
	[MULTIREG_CLI_SHOW_EXTENSIONS] = { "multireg show extensions",
		"Usage: multireg show extensions\n"
		"       Lists every extension with a type=multireg policy: registered devices per client\n"
		"       type against the limits, ring mode, secondary endpoint and busy state.\n" },
	[MULTIREG_CLI_SHOW_EXTENSION] = { "multireg show extension",
		"Usage: multireg show extension <extension>\n"
		"       Shows the policy of one extension and each registered device: client type,\n"
		"       User-Agent, contact, source address, expiry and why it was classified so.\n" },
	[MULTIREG_CLI_SET_RINGMODE] = { "multireg set ringmode",
		"Usage: multireg set ringmode <extension> <home|remote|both>\n"
		"       Sets which devices ring for the extension (same as RingMode(ext,mode)).\n" },
	[MULTIREG_CLI_SHOW_BLOCKS] = { "multireg show blocks",
		"Usage: multireg show blocks\n"
		"       Lists source addresses blocked after repeated failed authentication.\n" },
	[MULTIREG_CLI_CLEAR_BLOCKS] = { "multireg clear blocks",
		"Usage: multireg clear blocks [address]\n"
		"       Lifts the block on one address, or on all addresses.\n" },
	[MULTIREG_CLI_SHOW_STATS] = { "multireg show stats",
		"Usage: multireg show stats\n"
		"       Counters of the module's own work on the REGISTER path: decisions taken, the time\n"
		"       spent in them (nanoseconds, total and average), location store reads, refusals.\n" },
	[MULTIREG_CLI_LOGOUT] = { "multireg logout",
		"Usage: multireg logout <extension> <device>\n"
		"       Removes one registered device of the extension (its number in 'multireg show\n"
		"       extension', or its Contact URI) and refuses it for the extension's\n"
		"       logout_block_time seconds (403 \"Logged out by the administrator\").\n" },
	[MULTIREG_CLI_CLEAR_LOGOUTS] = { "multireg clear logouts",
		"Usage: multireg clear logouts [extension]\n"
		"       Lets logged-out devices of one extension, or of all, register again at once.\n" },
};

static char *cli_handler(struct ast_cli_entry *e, int cmd, struct ast_cli_args *a);

static struct ast_cli_entry cli_entries[] = {
	AST_CLI_DEFINE(cli_handler, "Show multireg extensions"),
	AST_CLI_DEFINE(cli_handler, "Show one multireg extension and its devices"),
	AST_CLI_DEFINE(cli_handler, "Set the ring mode of an extension"),
	AST_CLI_DEFINE(cli_handler, "Show addresses blocked after failed authentication"),
	AST_CLI_DEFINE(cli_handler, "Clear authentication blocks"),
	AST_CLI_DEFINE(cli_handler, "Show the module's REGISTER path counters"),
	AST_CLI_DEFINE(cli_handler, "Log out one device of an extension"),
	AST_CLI_DEFINE(cli_handler, "Lift remote logouts"),
};

/* Offers Rust's newline-separated candidates (extension names, ring modes) for tab completion.
 * strsep() writes NULs into what it splits, so it splits a copy: the string Rust allocated goes
 * back to Rust exactly as it came (Rust frees it with the length it had). */
static void cli_complete(int index, struct ast_cli_args *a)
{
	char *candidates = multireg_cli_candidates(index, a->pos, a->word);
	char *copy;
	char *cursor;
	char *candidate;
	size_t length;

	if (!candidates) {
		return;
	}
	length = strlen(candidates);
	copy = ast_strdup(candidates);
	multireg_cli_candidates_free(candidates, length);
	if (!copy) {
		return;
	}
	cursor = copy;
	while ((candidate = strsep(&cursor, "\n"))) {
		if (!ast_strlen_zero(candidate)) {
			ast_cli_completion_add(ast_strdup(candidate));
		}
	}
	ast_free(copy);
}

static char *cli_handler(struct ast_cli_entry *e, int cmd, struct ast_cli_args *a)
{
	int index = (int)(e - cli_entries);
	int result;

	switch (cmd) {
	case CLI_INIT:
		e->command = (char *)cli_texts[index].command;
		e->usage = cli_texts[index].usage;
		return NULL;
	case CLI_GENERATE:
		cli_complete(index, a);
		return NULL;
	}
	result = multireg_cli_execute(index, a->fd, a->argc, a->argv);
	return result == 0 ? CLI_SUCCESS : (result == 1 ? CLI_SHOWUSAGE : CLI_FAILURE);
}

int multireg_shim_register_cli(void)
{
	return ast_cli_register_multiple(cli_entries, ARRAY_LEN(cli_entries));
}

void multireg_shim_unregister_cli(void)
{
	ast_cli_unregister_multiple(cli_entries, ARRAY_LEN(cli_entries));
}

void multireg_shim_cli_print(int fd, const char *text)
{
	ast_cli(fd, "%s", text);
}

/* ---- dialplan ---- */
static int app_ringmode_exec(struct ast_channel *chan, const char *data)
{
	return multireg_app_execute(MULTIREG_APP_RINGMODE, chan, data);
}

static int app_multiregdial_exec(struct ast_channel *chan, const char *data)
{
	return multireg_app_execute(MULTIREG_APP_MULTIREGDIAL, chan, data);
}

/* Asterisk's fixed buffers (${MULTIREG_DIAL(...)} in application arguments: 4096 bytes). */
static int func_multireg_dial_read(struct ast_channel *chan, const char *cmd, char *data, char *buf, size_t len)
{
	return multireg_dial_read_fixed(chan, data, buf, len);
}

/* Callers with a growable string (ast_str_substitute_variables, ARI, channel variables in AMI). */
static int func_multireg_dial_read2(struct ast_channel *chan, const char *cmd, char *data, struct ast_str **buf, ssize_t len)
{
	return multireg_dial_read_str(chan, data, buf, len);
}

size_t multireg_shim_str_size(struct ast_str *buf)
{
	return ast_str_size(buf);
}

void multireg_shim_str_set(struct ast_str **buf, ssize_t max_len, const char *text)
{
	ast_str_set(buf, max_len, "%s", text);
}

static int func_ring_mode_read(struct ast_channel *chan, const char *cmd, char *data, char *buf, size_t len)
{
	return multireg_function_read(MULTIREG_FUNC_RING_MODE, chan, data, buf, len);
}

static int func_ring_mode_write(struct ast_channel *chan, const char *cmd, char *data, const char *value)
{
	return multireg_function_write(MULTIREG_FUNC_RING_MODE, chan, data, value);
}

static struct ast_custom_function multireg_dial_function = {
	.name = "MULTIREG_DIAL",
	.read = func_multireg_dial_read,
	.read2 = func_multireg_dial_read2,
};

static struct ast_custom_function ring_mode_function = {
	.name = "RING_MODE",
	.read = func_ring_mode_read,
	.write = func_ring_mode_write,
};

/* All or nothing: on a failure, only what this call registered is unregistered again, so
 * another module's item of the same name is never touched. */
int multireg_shim_register_dialplan(void)
{
	if (ast_register_application_xml("RingMode", app_ringmode_exec)) {
		return -1;
	}
	if (ast_register_application_xml("MultiregDial", app_multiregdial_exec)) {
		ast_unregister_application("RingMode");
		return -1;
	}
	if (ast_custom_function_register(&multireg_dial_function)) {
		ast_unregister_application("MultiregDial");
		ast_unregister_application("RingMode");
		return -1;
	}
	if (ast_custom_function_register(&ring_mode_function)) {
		ast_custom_function_unregister(&multireg_dial_function);
		ast_unregister_application("MultiregDial");
		ast_unregister_application("RingMode");
		return -1;
	}
	return 0;
}

void multireg_shim_unregister_dialplan(void)
{
	ast_unregister_application("RingMode");
	ast_unregister_application("MultiregDial");
	ast_custom_function_unregister(&multireg_dial_function);
	ast_custom_function_unregister(&ring_mode_function);
}

/* ---- AMI ---- */
/* Read-only actions also need the reporting class; changing ones need system. */
static const struct {
	const char *name;
	int authority;
} ami_actions[] = {
	{ "MultiregShowExtensions", EVENT_FLAG_SYSTEM | EVENT_FLAG_REPORTING },
	{ "MultiregShowExtension", EVENT_FLAG_SYSTEM | EVENT_FLAG_REPORTING },
	{ "MultiregSetRingMode", EVENT_FLAG_SYSTEM },
	{ "MultiregShowBlocks", EVENT_FLAG_SYSTEM | EVENT_FLAG_REPORTING },
	{ "MultiregClearBlocks", EVENT_FLAG_SYSTEM },
	{ "MultiregShowStats", EVENT_FLAG_SYSTEM | EVENT_FLAG_REPORTING },
	{ "MultiregLogout", EVENT_FLAG_SYSTEM },
	{ "MultiregClearLogouts", EVENT_FLAG_SYSTEM },
};

static int ami_handler(struct mansession *s, const struct message *m)
{
	return multireg_ami_execute(s, m);
}

/* All or nothing, as for the dialplan items. */
int multireg_shim_register_manager(void)
{
	size_t i;

	for (i = 0; i < ARRAY_LEN(ami_actions); i++) {
		if (ast_manager_register_xml(ami_actions[i].name, ami_actions[i].authority, ami_handler)) {
			while (i-- > 0) {
				ast_manager_unregister(ami_actions[i].name);
			}
			return -1;
		}
	}
	return 0;
}

void multireg_shim_unregister_manager(void)
{
	size_t i;

	for (i = 0; i < ARRAY_LEN(ami_actions); i++) {
		ast_manager_unregister(ami_actions[i].name);
	}
}

void multireg_shim_ami_append(struct mansession *s, const char *text)
{
	astman_append(s, "%s", text);
}

void multireg_shim_manager_event(const char *event, const char *body)
{
	manager_event(EVENT_FLAG_SYSTEM, event, "%s", body);
}

/* ---- res_pjsip reloads ---- */
/* One notification after every pjsip object type has been (re)loaded, on the reloading thread,
 * instead of one per type on the types' serializers: the configuration and the secondaries are
 * then derived once per reload. */
static void pjsip_instance_loaded(const char *name, const struct ast_sorcery *sorcery, int reloaded)
{
	multireg_on_pjsip_loaded(reloaded ? "reload" : "load");
}

static const struct ast_sorcery_instance_observer pjsip_observer = {
	.instance_loaded = pjsip_instance_loaded,
};

int multireg_shim_observe_pjsip(void)
{
	return ast_sorcery_instance_observer_add(ast_sip_get_sorcery(), &pjsip_observer);
}

void multireg_shim_unobserve_pjsip(void)
{
	ast_sorcery_instance_observer_remove(ast_sip_get_sorcery(), &pjsip_observer);
}

/* ---- secondary objects ---- */
static const char *secondary_types[] = { "auth", "aor", "endpoint" };
static struct ast_sorcery_wizard *secondary_wizard[3];
static void *secondary_wizard_data[3];

int multireg_shim_secondary_setup(void)
{
	size_t i;

	if (multireg_shim_store_register()) {
		return -1;
	}
	for (i = 0; i < ARRAY_LEN(secondary_types); i++) {
		if (__ast_sorcery_object_type_insert_wizard(ast_sip_get_sorcery(), secondary_types[i], AST_MODULE,
			MULTIREG_SECONDARY_WIZARD, "multireg",
			AST_SORCERY_WIZARD_APPLY_READONLY | AST_SORCERY_WIZARD_APPLY_ALLOW_DUPLICATE,
			AST_SORCERY_WIZARD_POSITION_LAST, &secondary_wizard[i], &secondary_wizard_data[i])) {
			return -1;
		}
	}
	return 0;
}

void multireg_shim_secondary_teardown(void)
{
	size_t i;

	for (i = 0; i < ARRAY_LEN(secondary_types); i++) {
		if (secondary_wizard[i]) {
			__ast_sorcery_object_type_remove_wizard(ast_sip_get_sorcery(), secondary_types[i], AST_MODULE,
				MULTIREG_SECONDARY_WIZARD, "multireg");
			secondary_wizard[i] = NULL;
			secondary_wizard_data[i] = NULL;
		}
	}
	/* After the mappings are gone nothing can call into the wizard any more. */
	multireg_shim_store_unregister();
}

/* Serialises put and delete: "update, else create" is two wizard calls. */
AST_MUTEX_DEFINE_STATIC(secondary_lock);

int multireg_shim_secondary_put(int type_index, const char *id, const char *const *names, const char *const *values, int count)
{
	struct ast_sorcery *sorcery = ast_sip_get_sorcery();
	struct ast_variable *vars = NULL;
	void *object;
	int i;
	int res = -1;

	if (type_index < 0 || type_index > 2 || !secondary_wizard[type_index]) {
		return -1;
	}
	for (i = 0; i < count; i++) {
		struct ast_variable *var = ast_variable_new(names[i], values[i], "");
		if (!var) {
			ast_variables_destroy(vars);
			return -1;
		}
		ast_variable_list_append(&vars, var);
	}
	object = ast_sorcery_alloc(sorcery, secondary_types[type_index], id);
	if (object && !ast_sorcery_objectset_apply(sorcery, object, vars)) {
		struct ast_sorcery_wizard *wizard = secondary_wizard[type_index];
		void *data = secondary_wizard_data[type_index];
		ast_mutex_lock(&secondary_lock);
		res = wizard->update(sorcery, data, object) ? wizard->create(sorcery, data, object) : 0;
		ast_mutex_unlock(&secondary_lock);
	}
	ao2_cleanup(object);
	ast_variables_destroy(vars);
	return res;
}

int multireg_shim_secondary_delete(int type_index, const char *id)
{
	struct ast_sorcery *sorcery = ast_sip_get_sorcery();
	void *object;
	int res;

	if (type_index < 0 || type_index > 2 || !secondary_wizard[type_index]) {
		return -1;
	}
	object = secondary_wizard[type_index]->retrieve_id(sorcery, secondary_wizard_data[type_index], secondary_types[type_index], id);
	if (!object) {
		return 0;
	}
	ast_mutex_lock(&secondary_lock);
	res = secondary_wizard[type_index]->delete(sorcery, secondary_wizard_data[type_index], object);
	ast_mutex_unlock(&secondary_lock);
	ao2_ref(object, -1);
	return res;
}

int multireg_shim_secondary_foreign(int type_index, const char *id)
{
	struct ast_sorcery *sorcery = ast_sip_get_sorcery();
	void *found;
	void *ours = NULL;
	int foreign;

	if (type_index < 0 || type_index > 2) {
		return 0;
	}
	found = ast_sorcery_retrieve_by_id(sorcery, secondary_types[type_index], id);
	if (!found) {
		return 0;
	}
	if (secondary_wizard[type_index]) {
		ours = secondary_wizard[type_index]->retrieve_id(sorcery, secondary_wizard_data[type_index], secondary_types[type_index], id);
	}
	foreign = found != ours;
	ao2_ref(found, -1);
	ao2_cleanup(ours);
	return foreign;
}

/* Appends "<prefix>acl\tNAME\n" for a named ACL, or "<prefix>deny|permit\tADDRESS/MASK\n" per rule
 * of the unnamed one, in the order Asterisk applies them. */
static void append_acl_rules(struct ast_str **out, struct ast_acl_list *list, const char *prefix)
{
	struct ast_acl *acl;

	if (!list) {
		return;
	}
	AST_LIST_LOCK(list);
	AST_LIST_TRAVERSE(list, acl, list) {
		struct ast_ha *ha;

		if (!ast_strlen_zero(acl->name)) {
			ast_str_append(out, 0, "%sacl\t%s\n", prefix, acl->name);
			continue;
		}
		for (ha = acl->acl; ha; ha = ha->next) {
			int bits = ast_sockaddr_cidr_bits(&ha->netmask);
			const char *sense = ha->sense == AST_SENSE_ALLOW ? "permit" : "deny";

			ast_str_append(out, 0, "%s%s\t%s/", prefix, sense, ast_sockaddr_stringify_addr(&ha->addr));
			if (bits >= 0) {
				ast_str_append(out, 0, "%d\n", bits);
			} else {
				ast_str_append(out, 0, "%s\n", ast_sockaddr_stringify_addr(&ha->netmask));
			}
		}
	}
	AST_LIST_UNLOCK(list);
}

char *multireg_shim_endpoint_acl_rules(const char *id)
{
	struct ast_sip_endpoint *endpoint = ast_sorcery_retrieve_by_id(ast_sip_get_sorcery(), "endpoint", id);
	struct ast_str *out;
	char *text;

	if (!endpoint) {
		return NULL;
	}
	out = ast_str_create(128);
	if (!out) {
		ao2_ref(endpoint, -1);
		return NULL;
	}
	append_acl_rules(&out, endpoint->acl, "");
	append_acl_rules(&out, endpoint->contact_acl, "contact_");
	ao2_ref(endpoint, -1);
	text = ast_strdup(ast_str_buffer(out));
	ast_free(out);
	return text;
}

void multireg_shim_free(void *pointer)
{
	ast_free(pointer);
}

int multireg_shim_secondary_owned(int type_index, const char *id)
{
	void *object;

	if (type_index < 0 || type_index > 2 || !secondary_wizard[type_index]) {
		return 0;
	}
	object = secondary_wizard[type_index]->retrieve_id(ast_sip_get_sorcery(), secondary_wizard_data[type_index], secondary_types[type_index], id);
	if (!object) {
		return 0;
	}
	ao2_ref(object, -1);
	return 1;
}

/* ---- address guard (before the authenticator at APPLICATION-2) ---- */
static pj_bool_t shim_on_rx_early(pjsip_rx_data *rdata)
{
	return multireg_on_rx_early(rdata);
}

/* Every digest challenge Asterisk sends (a 401 from the authenticator): its nonce and the address it
 * goes to, so that a later failed answer can be checked against what that address really received.
 * Other responses cost one comparison. */
int multireg_shim_sockaddr_bytes(const pj_sockaddr *address, unsigned char *out)
{
	if (address->addr.sa_family == pj_AF_INET()) {
		memcpy(out, &address->ipv4.sin_addr, 4);
		return 4;
	}
	if (address->addr.sa_family == pj_AF_INET6()) {
		memcpy(out, &address->ipv6.sin6_addr, 16);
		return 16;
	}
	return 0;
}

/* Longer nonces are not Asterisk's own (it sends 40-odd characters): not recorded. */
#define MAX_NONCE_LENGTH 128

static pj_status_t shim_guard_on_tx_response(pjsip_tx_data *tdata)
{
	pjsip_www_authenticate_hdr *hdr = NULL;
	unsigned char address[16];
	int address_length;

	if (!tdata || !tdata->msg || tdata->msg->type != PJSIP_RESPONSE_MSG || tdata->msg->line.status.code != 401) {
		return PJ_SUCCESS;
	}
	/* The address in binary (pjsip_transport_send filled tp_info before calling the modules):
	 * the module would otherwise parse tp_info's printed copy of it back. */
	address_length = multireg_shim_sockaddr_bytes(&tdata->tp_info.dst_addr, address);
	if (!address_length) {
		return PJ_SUCCESS;
	}
	while ((hdr = pjsip_msg_find_hdr(tdata->msg, PJSIP_H_WWW_AUTHENTICATE, hdr ? hdr->next : NULL))) {
		if (pj_stricmp2(&hdr->scheme, "digest") || hdr->challenge.digest.nonce.slen <= 0
			|| hdr->challenge.digest.nonce.slen >= MAX_NONCE_LENGTH) {
			continue;
		}
		/* The nonce's bytes as they are in the header (the module only hashes them). */
		multireg_on_challenge_sent(address, address_length, hdr->challenge.digest.nonce.ptr,
			(int) hdr->challenge.digest.nonce.slen);
	}
	return PJ_SUCCESS;
}

static pjsip_module multireg_guard_module = {
	.name = { "mod-multireg-guard", 18 },
	.id = -1,
	.priority = PJSIP_MOD_PRIORITY_APPLICATION - 3,
	.on_rx_request = shim_on_rx_early,
	.on_tx_response = shim_guard_on_tx_response,
};

/* Both PJSIP services, all or nothing: the request service (before the registrar) and the
 * address guard (before the authenticator). */
int multireg_shim_register_services(void)
{
	if (ast_sip_register_service(&multireg_pjsip_module)) {
		return -1;
	}
	if (ast_sip_register_service(&multireg_guard_module)) {
		ast_sip_unregister_service(&multireg_pjsip_module);
		return -1;
	}
	return 0;
}

void multireg_shim_unregister_services(void)
{
	ast_sip_unregister_service(&multireg_guard_module);
	ast_sip_unregister_service(&multireg_pjsip_module);
}

/* ---- serialized work on res_pjsip's thread pool ----
 * A thread Rust would spawn itself registers thread-local destructors against this shared
 * object, after which Asterisk can no longer unload it. A taskprocessor of its own would be
 * Asterisk's thread, but every thread Asterisk starts also shifts which glibc malloc arena each
 * later thread (res_pjsip's workers among them) is given: with two such threads, a mass
 * registration at 1,000 contacts took three times stock's page faults, the arena shared by the
 * SIP workers being trimmed and refilled each time. A serializer on res_pjsip's pool keeps the
 * order of a taskprocessor and adds no thread. */
struct ast_taskprocessor *multireg_shim_pool_serializer(const char *name)
{
	char unique[AST_TASKPROCESSOR_MAX_NAME + 1];

	/* A sequence number: the previous load's serializer may keep its name for a moment after
	 * the last task, and ast_sip_create_serializer refuses a name in use. */
	ast_taskprocessor_build_name(unique, sizeof(unique), "%s", name);
	return ast_sip_create_serializer(unique);
}

static int drained(void *data)
{
	return 0;
}

void multireg_shim_end_serializer(struct ast_taskprocessor **serializer)
{
	if (!*serializer) {
		return;
	}
	/* Runs after every task queued before it: once it returns, nothing of ours is queued (the
	 * callers stop queueing first), so the module's code may go. */
	if (ast_sip_push_task_wait_serializer(*serializer, drained, NULL)) {
		ast_log(LOG_ERROR, "multireg: could not wait for the tasks queued on %s\n", ast_taskprocessor_name(*serializer));
	}
	*serializer = ast_taskprocessor_unreference(*serializer);
}

/* ---- background work ---- */
static struct ast_taskprocessor *background;

static int background_work(void *data)
{
	multireg_on_background_work();
	return 0;
}

int multireg_shim_background_start(void)
{
	background = multireg_shim_pool_serializer("multireg/background");
	return background ? 0 : -1;
}

int multireg_shim_background_queue(void)
{
	return background ? ast_sip_push_task(background, background_work, NULL) : -1;
}

void multireg_shim_background_stop(void)
{
	/* A warm-up pass in progress ends after its current AOR (book_warmup::stop came first). */
	multireg_shim_end_serializer(&background);
}

/* ---- AMI actions run inside Asterisk ---- */
/* The response of the action being run by this thread. The hook below is handed to
 * ast_hook_send_action only: it is never registered with the manager, so it sees that action's
 * response and no other AMI traffic. */
static __thread struct ast_str *action_output;

static int action_output_helper(int category, const char *event, char *body)
{
	if (action_output && body) {
		ast_str_append(&action_output, 0, "%s", body);
	}
	return 0;
}

static struct manager_custom_hook action_hook = {
	.file = __FILE__,
	.helper = action_output_helper,
};

char *multireg_shim_run_action(const char *message)
{
	struct ast_str *outer = action_output;
	char *text = NULL;

	action_output = ast_str_create(1024);
	if (action_output) {
		ast_hook_send_action(&action_hook, message);
		text = ast_strdup(ast_str_buffer(action_output));
		ast_free(action_output);
	}
	action_output = outer;
	return text;
}

/* ---- busy lamp: Multireg:<extension> ---- */
static enum ast_device_state busy_lamp_state(const char *extension)
{
	return (enum ast_device_state) multireg_devstate(extension);
}

int multireg_shim_busy_lamp_start(void)
{
	if (ast_devstate_prov_add("Multireg", busy_lamp_state)) {
		return -1;
	}
	if (multireg_shim_observe_device_states()) {
		ast_devstate_prov_del("Multireg");
		return -1;
	}
	return 0;
}

void multireg_shim_busy_lamp_stop(void)
{
	/* Waits until the observer has run for the last time. */
	multireg_shim_stop_observing_device_states();
	ast_devstate_prov_del("Multireg");
}

void multireg_shim_busy_lamp_changed(const char *extension)
{
	ast_devstate_changed(AST_DEVICE_UNKNOWN, AST_DEVSTATE_CACHABLE, "Multireg:%s", extension);
}

/* The device lists of every dialplan hint that names a Multireg: device, one per line (or NULL
 * when there is none). Read at load: a hint made before the provider existed asked in vain. */
char *multireg_shim_multireg_hints(void)
{
	struct ast_str *found = ast_str_create(256);
	struct ast_context *context = NULL;
	char *text = NULL;

	if (!found) {
		return NULL;
	}
	ast_rdlock_contexts();
	while ((context = ast_walk_contexts(context))) {
		struct ast_exten *extension = NULL;

		ast_rdlock_context(context);
		while ((extension = ast_walk_context_extensions(context, extension))) {
			struct ast_exten *priority = NULL;

			while ((priority = ast_walk_extension_priorities(extension, priority))) {
				const char *devices = ast_get_extension_app(priority);

				if (ast_get_extension_priority(priority) == PRIORITY_HINT && devices && strcasestr(devices, "Multireg:")) {
					ast_str_append(&found, 0, "%s\n", devices);
				}
			}
		}
		ast_unlock_context(context);
	}
	ast_unlock_contexts();
	if (ast_str_strlen(found)) {
		text = ast_strdup(ast_str_buffer(found));
	}
	ast_free(found);
	return text;
}

int multireg_shim_busy_lamp_cached(const char *extension)
{
	/* Cut where ast_devstate_changed cuts the name it announces, so a long one is found too. */
	char device[AST_MAX_EXTENSION];
	struct stasis_message *cached;
	int found;

	snprintf(device, sizeof(device), "Multireg:%s", extension);
	cached = stasis_cache_get(ast_device_state_cache(), ast_device_state_message_type(), device);
	found = cached != NULL;
	ao2_cleanup(cached);
	return found;
}

int multireg_shim_channel_progress(const char *name)
{
	struct ast_channel *chan = ast_channel_get_by_name(name);
	int progress;

	if (!chan) {
		return -1;
	}
	ast_channel_lock(chan);
	progress = (ast_channel_is_bridged(chan) ? 1 : 0) | (ast_channel_state(chan) == AST_STATE_UP ? 2 : 0);
	ast_channel_unlock(chan);
	ast_channel_unref(chan);
	return progress;
}

static int load_module(void)
{
	return multireg_load_module();
}

static int unload_module(void)
{
	return multireg_unload_module();
}

static int reload_module(void)
{
	return multireg_reload_module();
}

AST_MODULE_INFO(ASTERISK_GPL_KEY, AST_MODFLAG_LOAD_ORDER, "Multiple registrations, secondary endpoints and ring modes per extension",
	.support_level = AST_MODULE_SUPPORT_EXTENDED,
	.load = load_module,
	.unload = unload_module,
	.reload = reload_module,
	.load_pri = AST_MODPRI_APP_DEPEND,
	.requires = "res_pjsip",
);

/* ---- RFC 8599 push wake-up ---- */
#define MULTIREG_PUSH_CONTEXT "multireg-push"
#define MULTIREG_PUSH_APP "MultiregPushWake"
#define MULTIREG_PUSH_REGISTRAR "res_pjsip_multireg"

static int app_pushwake_exec(struct ast_channel *chan, const char *data)
{
	return multireg_app_execute(MULTIREG_APP_PUSHWAKE, chan, data);
}

int multireg_shim_register_push(void)
{
	struct ast_context *context;

	if (ast_register_application_xml(MULTIREG_PUSH_APP, app_pushwake_exec)) {
		return -1;
	}
	context = ast_context_find_or_create(NULL, NULL, MULTIREG_PUSH_CONTEXT, MULTIREG_PUSH_REGISTRAR);
	if (!context || ast_add_extension2(context, 1, "_X.", 1, NULL, NULL, MULTIREG_PUSH_APP,
			ast_strdup("${EXTEN}"), ast_free_ptr, MULTIREG_PUSH_REGISTRAR, NULL, 0)) {
		ast_context_destroy_by_name(MULTIREG_PUSH_CONTEXT, MULTIREG_PUSH_REGISTRAR);
		ast_unregister_application(MULTIREG_PUSH_APP);
		return -1;
	}
	return 0;
}

void multireg_shim_unregister_push(void)
{
	ast_context_destroy_by_name(MULTIREG_PUSH_CONTEXT, MULTIREG_PUSH_REGISTRAR);
	ast_unregister_application(MULTIREG_PUSH_APP);
}
