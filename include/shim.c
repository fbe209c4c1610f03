/*
 * The C side of res_pjsip_multireg: the real AST_MODULE_INFO (so the build-option checksum and
 * module self symbol are Asterisk's own), and one-line wrappers for what Asterisk offers only as
 * macros or static structures. All logic lives in Rust.
 */
#include <asterisk.h>
#include <asterisk/module.h>
#include <asterisk/logger.h>
#include <asterisk/res_pjsip.h>
#include "shim.h"

/* Implemented in Rust (src/asterisk/entry.rs); each is panic-guarded there. */
extern int multireg_load_module(void);
extern int multireg_unload_module(void);
extern int multireg_reload_module(void);
extern pj_bool_t multireg_on_rx_request(pjsip_rx_data *rdata);

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

/* One below the registrar (APPLICATION) and above the authenticator (APPLICATION-2): each REGISTER
 * reaching us is already authenticated and not yet stored. */
static pjsip_module multireg_pjsip_module = {
	.name = { "mod-multireg", 12 },
	.id = -1,
	.priority = PJSIP_MOD_PRIORITY_APPLICATION - 1,
	.on_rx_request = shim_on_rx_request,
};

int multireg_shim_register_service(void)
{
	return ast_sip_register_service(&multireg_pjsip_module);
}

void multireg_shim_unregister_service(void)
{
	ast_sip_unregister_service(&multireg_pjsip_module);
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
