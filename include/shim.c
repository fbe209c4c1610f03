/*
 * The C side of res_pjsip_multireg: the real AST_MODULE_INFO (so the build-option checksum and
 * module self symbol are Asterisk's own), and one-line wrappers for what Asterisk offers only as
 * macros or static structures. All logic lives in Rust.
 */
#include <asterisk.h>
#include <asterisk/module.h>
#include <asterisk/logger.h>
#include <asterisk/res_pjsip.h>
#include <asterisk/cli.h>
#include <asterisk/manager.h>
#include <asterisk/pbx.h>
#include <asterisk/sorcery.h>
#include <asterisk/acl.h>
#include <asterisk/lock.h>
#include <asterisk/strings.h>
#include "shim.h"

/* Implemented in Rust (src/asterisk/entry.rs); each is panic-guarded there. */
extern int multireg_load_module(void);
extern int multireg_unload_module(void);
extern int multireg_reload_module(void);
extern pj_bool_t multireg_on_rx_request(pjsip_rx_data *rdata);
extern void multireg_on_tx_response(pjsip_tx_data *tdata);
extern int multireg_cli_execute(int command, int fd, int argc, const char * const *argv);
extern char *multireg_cli_candidates(int command, int position, const char *word);
extern void multireg_cli_candidates_free(char *candidates);
extern int multireg_app_execute(int app, struct ast_channel *chan, const char *data);
extern int multireg_function_read(int function, struct ast_channel *chan, const char *data, char *buf, size_t len);
extern int multireg_function_write(int function, struct ast_channel *chan, const char *data, const char *value);
extern int multireg_ami_execute(struct mansession *s, const struct message *m);
extern void multireg_on_pjsip_loaded(const char *object_type);
extern pj_bool_t multireg_on_rx_early(pjsip_rx_data *rdata);
extern int multireg_on_manager_event(int category, const char *event, const char *body);
extern int multireg_dial_read_fixed(struct ast_channel *chan, const char *data, char *buf, size_t len);
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
	case MULTIREG_SEVERITY_VERBOSE:
		ast_log(__LOG_VERBOSE, file, line, function, "%s\n", message);
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

int multireg_shim_register_service(void)
{
	return ast_sip_register_service(&multireg_pjsip_module);
}

void multireg_shim_unregister_service(void)
{
	ast_sip_unregister_service(&multireg_pjsip_module);
}

struct ast_module *multireg_shim_self(void)
{
	return AST_MODULE_SELF;
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
};

static char *cli_handler(struct ast_cli_entry *e, int cmd, struct ast_cli_args *a);

static struct ast_cli_entry cli_entries[] = {
	AST_CLI_DEFINE(cli_handler, "Show multireg extensions"),
	AST_CLI_DEFINE(cli_handler, "Show one multireg extension and its devices"),
	AST_CLI_DEFINE(cli_handler, "Set the ring mode of an extension"),
	AST_CLI_DEFINE(cli_handler, "Show addresses blocked after failed authentication"),
	AST_CLI_DEFINE(cli_handler, "Clear authentication blocks"),
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

	if (!candidates) {
		return;
	}
	copy = ast_strdup(candidates);
	multireg_cli_candidates_free(candidates);
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

int multireg_shim_register_dialplan(void)
{
	int res = 0;

	res |= ast_register_application_xml("RingMode", app_ringmode_exec);
	res |= ast_register_application_xml("MultiregDial", app_multiregdial_exec);
	res |= ast_custom_function_register(&multireg_dial_function);
	res |= ast_custom_function_register(&ring_mode_function);
	return res;
}

void multireg_shim_unregister_dialplan(void)
{
	ast_unregister_application("RingMode");
	ast_unregister_application("MultiregDial");
	ast_custom_function_unregister(&multireg_dial_function);
	ast_custom_function_unregister(&ring_mode_function);
}

/* ---- AMI ---- */
static const char *ami_actions[] = {
	"MultiregShowExtensions",
	"MultiregShowExtension",
	"MultiregSetRingMode",
	"MultiregShowBlocks",
	"MultiregClearBlocks",
};

static int ami_handler(struct mansession *s, const struct message *m)
{
	return multireg_ami_execute(s, m);
}

int multireg_shim_register_manager(void)
{
	int res = 0;
	size_t i;

	for (i = 0; i < ARRAY_LEN(ami_actions); i++) {
		int authority = strstr(ami_actions[i], "Show") ? EVENT_FLAG_SYSTEM | EVENT_FLAG_REPORTING : EVENT_FLAG_SYSTEM;
		res |= ast_manager_register_xml(ami_actions[i], authority, ami_handler);
	}
	return res;
}

void multireg_shim_unregister_manager(void)
{
	size_t i;

	for (i = 0; i < ARRAY_LEN(ami_actions); i++) {
		ast_manager_unregister(ami_actions[i]);
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
static void pjsip_endpoints_loaded(const char *object_type)
{
	multireg_on_pjsip_loaded(object_type);
}

static const struct ast_sorcery_observer pjsip_observer = {
	.loaded = pjsip_endpoints_loaded,
};

static const char *observed_types[] = { "endpoint", "auth", "aor" };

int multireg_shim_observe_pjsip(void)
{
	int res = 0;
	size_t i;

	for (i = 0; i < ARRAY_LEN(observed_types); i++) {
		res |= ast_sorcery_observer_add(ast_sip_get_sorcery(), observed_types[i], &pjsip_observer);
	}
	return res;
}

void multireg_shim_unobserve_pjsip(void)
{
	size_t i;

	for (i = 0; i < ARRAY_LEN(observed_types); i++) {
		ast_sorcery_observer_remove(ast_sip_get_sorcery(), observed_types[i], &pjsip_observer);
	}
}

/* ---- secondary objects ---- */
static const char *secondary_types[] = { "auth", "aor", "endpoint" };
static struct ast_sorcery_wizard *secondary_wizard[3];
static void *secondary_wizard_data[3];

int multireg_shim_secondary_setup(void)
{
	size_t i;

	for (i = 0; i < ARRAY_LEN(secondary_types); i++) {
		if (__ast_sorcery_object_type_insert_wizard(ast_sip_get_sorcery(), secondary_types[i], AST_MODULE,
			"memory", "multireg", AST_SORCERY_WIZARD_APPLY_READONLY | AST_SORCERY_WIZARD_APPLY_ALLOW_DUPLICATE,
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
			__ast_sorcery_object_type_remove_wizard(ast_sip_get_sorcery(), secondary_types[i], AST_MODULE, "memory", "multireg");
			secondary_wizard[i] = NULL;
			secondary_wizard_data[i] = NULL;
		}
	}
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

static pjsip_module multireg_guard_module = {
	.name = { "mod-multireg-guard", 18 },
	.id = -1,
	.priority = PJSIP_MOD_PRIORITY_APPLICATION - 3,
	.on_rx_request = shim_on_rx_early,
};

int multireg_shim_register_guard(void)
{
	return ast_sip_register_service(&multireg_guard_module);
}

void multireg_shim_unregister_guard(void)
{
	ast_sip_unregister_service(&multireg_guard_module);
}

/* ---- manager hook ---- */
static int manager_hook_helper(int category, const char *event, char *body)
{
	return multireg_on_manager_event(category, event, body);
}

static struct manager_custom_hook multireg_hook = {
	.file = __FILE__,
	.helper = manager_hook_helper,
};

void multireg_shim_register_hook(void)
{
	ast_manager_register_hook(&multireg_hook);
}

void multireg_shim_unregister_hook(void)
{
	ast_manager_unregister_hook(&multireg_hook);
}

int multireg_shim_hook_action(const char *message)
{
	return ast_hook_send_action(&multireg_hook, message);
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
