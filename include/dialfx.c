/*
 * The C side of the dial-time call features: registration of MultiregFlip and the internal
 * MultiregDelayedRing, the dialplan context of staggered ring, the Stasis subscription to dial
 * messages (All Reject Mode) and thin wrappers over channel and bridge calls that need locks or
 * structures Rust does not read. Decisions are made in Rust.
 */
#include <asterisk.h>
#include <asterisk/module.h>
#include <asterisk/logger.h>
#include <asterisk/pbx.h>
#include <asterisk/channel.h>
#include <asterisk/causes.h>
#include <asterisk/stasis.h>
#include <asterisk/stasis_channels.h>
#include <asterisk/json.h>
#include <asterisk/strings.h>
#include <asterisk/bridge.h>
#include <asterisk/bridge_features.h>
#include <asterisk/bridge_after.h>
#include "dialfx.h"

/* Implemented in Rust; panic-guarded there. */
extern int multireg_app_execute(int app, struct ast_channel *chan, const char *data);
extern void multireg_on_dial_event(const char *caller_uniqueid, const char *peer_uniqueid, const char *peer_name,
	const char *dialstatus, int peer_cause);

static const char registrar[] = "res_pjsip_multireg";

static int app_flip_exec(struct ast_channel *chan, const char *data)
{
	return multireg_app_execute(MULTIREG_APP_MULTIREGFLIP, chan, data);
}

static int app_delayed_ring_exec(struct ast_channel *chan, const char *data)
{
	return multireg_app_execute(MULTIREG_APP_MULTIREGDELAYEDRING, chan, data);
}

static struct stasis_subscription *dial_subscription;

/* Only dial messages reach this (selective filter). */
static void dial_event_cb(void *data, struct stasis_subscription *sub, struct stasis_message *message)
{
	struct ast_multi_channel_blob *blob;
	struct ast_channel_snapshot *caller;
	struct ast_channel_snapshot *peer;
	const char *status;

	if (stasis_message_type(message) != ast_channel_dial_type()) {
		return;
	}
	blob = stasis_message_data(message);
	caller = ast_multi_channel_blob_get_channel(blob, "caller");
	peer = ast_multi_channel_blob_get_channel(blob, "peer");
	if (!caller || !peer || !caller->base || !peer->base) {
		return;
	}
	status = ast_json_string_get(ast_json_object_get(ast_multi_channel_blob_get_json(blob), "dialstatus"));
	multireg_on_dial_event(caller->base->uniqueid, peer->base->uniqueid, peer->base->name, S_OR(status, ""),
		peer->hangup ? peer->hangup->cause : 0);
}

static int add_context(void)
{
	struct ast_context *context = ast_context_find_or_create(NULL, NULL, MULTIREG_DELAYED_RING_CONTEXT, registrar);
	char *data;

	if (!context) {
		return -1;
	}
	data = ast_strdup("${EXTEN}");
	if (!data) {
		return -1;
	}
	/* ast_add_extension2 frees data on failure too. */
	return ast_add_extension2(context, 1, "_X.", 1, NULL, NULL, "MultiregDelayedRing", data, ast_free_ptr, registrar,
		NULL, 0);
}

int multireg_shim_dialfx_register(void)
{
	if (ast_register_application_xml("MultiregFlip", app_flip_exec)) {
		return -1;
	}
	if (ast_register_application_xml("MultiregDelayedRing", app_delayed_ring_exec)) {
		ast_unregister_application("MultiregFlip");
		return -1;
	}
	if (add_context()) {
		ast_context_destroy_by_name(MULTIREG_DELAYED_RING_CONTEXT, registrar);
		ast_unregister_application("MultiregDelayedRing");
		ast_unregister_application("MultiregFlip");
		return -1;
	}
	dial_subscription = stasis_subscribe_pool(ast_channel_topic_all(), dial_event_cb, NULL);
	if (!dial_subscription) {
		ast_context_destroy_by_name(MULTIREG_DELAYED_RING_CONTEXT, registrar);
		ast_unregister_application("MultiregDelayedRing");
		ast_unregister_application("MultiregFlip");
		return -1;
	}
	stasis_subscription_accept_message_type(dial_subscription, ast_channel_dial_type());
	stasis_subscription_set_filter(dial_subscription, STASIS_SUBSCRIPTION_FILTER_SELECTIVE);
	return 0;
}

void multireg_shim_dialfx_unregister(void)
{
	/* Waits until the callback has run for the last time. */
	dial_subscription = stasis_unsubscribe_and_join(dial_subscription);
	ast_context_destroy_by_name(MULTIREG_DELAYED_RING_CONTEXT, registrar);
	ast_unregister_application("MultiregDelayedRing");
	ast_unregister_application("MultiregFlip");
}

int multireg_shim_dialfx_dialed_sip_code(const char *caller_uniqueid, const char *peer_name)
{
	struct ast_channel *chan = ast_channel_get_by_uniqueid(caller_uniqueid);
	struct ast_control_pvt_cause_code *cause;
	int code = 0;

	if (!chan) {
		return 0;
	}
	ast_channel_lock(chan);
	cause = ast_channel_dialed_causes_find(chan, peer_name);
	ast_channel_unlock(chan);
	if (cause) {
		if (sscanf(cause->code, "SIP %3d", &code) != 1) {
			code = 0;
		}
		ao2_ref(cause, -1);
	}
	ast_channel_unref(chan);
	return code;
}

int multireg_shim_dialfx_hangup_busy(const char *uniqueid)
{
	struct ast_channel *chan = ast_channel_get_by_uniqueid(uniqueid);
	int asked = 0;

	if (!chan) {
		return 0;
	}
	ast_channel_lock(chan);
	if (ast_channel_state(chan) != AST_STATE_UP) {
		ast_channel_hangupcause_set(chan, AST_CAUSE_USER_BUSY);
		ast_softhangup_nolock(chan, AST_SOFTHANGUP_EXPLICIT);
		asked = 1;
	}
	ast_channel_unlock(chan);
	ast_channel_unref(chan);
	return asked;
}

void multireg_shim_dialfx_uniqueid(struct ast_channel *chan, char *buf, size_t len)
{
	ast_channel_lock(chan);
	ast_copy_string(buf, ast_channel_uniqueid(chan), len);
	ast_channel_unlock(chan);
}

void multireg_shim_dialfx_getvar(struct ast_channel *chan, const char *name, char *buf, size_t len)
{
	const char *value;

	ast_channel_lock(chan);
	value = pbx_builtin_getvar_helper(chan, name);
	ast_copy_string(buf, S_OR(value, ""), len);
	ast_channel_unlock(chan);
}

int multireg_shim_dialfx_ring_and_wait(struct ast_channel *chan, int ms)
{
	ast_indicate(chan, AST_CONTROL_RINGING);
	return ms > 0 ? ast_safe_sleep(chan, ms) : 0;
}

char *multireg_shim_dialfx_bridged_channels(const char *prefix)
{
	struct ast_channel_iterator *iterator = ast_channel_iterator_by_name_new(prefix, strlen(prefix));
	struct ast_str *out = ast_str_create(256);
	struct ast_channel *chan;
	char *result;

	if (!iterator || !out) {
		if (iterator) {
			ast_channel_iterator_destroy(iterator);
		}
		ast_free(out);
		return NULL;
	}
	while ((chan = ast_channel_iterator_next(iterator))) {
		struct ast_bridge *bridge;
		char name[AST_CHANNEL_NAME];
		unsigned int parties = 0;

		ast_channel_lock(chan);
		bridge = ast_channel_state(chan) == AST_STATE_UP ? ast_channel_get_bridge(chan) : NULL;
		ast_copy_string(name, ast_channel_name(chan), sizeof(name));
		ast_channel_unlock(chan);
		if (bridge) {
			/* Bridge lock after the channel's, never while holding it. */
			ast_bridge_lock(bridge);
			parties = bridge->num_channels;
			ast_bridge_unlock(bridge);
			ao2_ref(bridge, -1);
		}
		/* Alone in its bridge (e.g. the far end is being moved) is not a call to take over. */
		if (parties >= 2) {
			ast_str_append(&out, 0, "%s\n", name);
		}
		ast_channel_unref(chan);
	}
	ast_channel_iterator_destroy(iterator);
	result = ast_strdup(ast_str_buffer(out));
	ast_free(out);
	return result;
}

void multireg_shim_dialfx_free(void *pointer)
{
	ast_free(pointer);
}

/* The replaced device's channel leaves the bridge: end it (also when it ran Dial itself). */
static void hang_up_after_bridge(struct ast_channel *chan, void *data)
{
	ast_softhangup(chan, AST_SOFTHANGUP_EXPLICIT);
}

static void after_bridge_failed(enum ast_bridge_after_cb_reason reason, void *data)
{
}

int multireg_shim_dialfx_take_over(struct ast_channel *chan, const char *old_name)
{
	struct ast_channel *old = ast_channel_get_by_name(old_name);
	struct ast_bridge *bridge;
	struct ast_bridge_features features;

	if (!old) {
		return -1;
	}
	ast_channel_lock(old);
	bridge = ast_channel_get_bridge(old);
	ast_channel_unlock(old);
	if (!bridge) {
		ast_channel_unref(old);
		return -1;
	}
	if (ast_channel_state(chan) != AST_STATE_UP && ast_answer(chan)) {
		ao2_ref(bridge, -1);
		ast_channel_unref(old);
		return 0;
	}
	if (ast_bridge_features_init(&features)) {
		ast_bridge_features_cleanup(&features);
		ao2_ref(bridge, -1);
		ast_channel_unref(old);
		return -1;
	}
	ast_bridge_set_after_callback(old, hang_up_after_bridge, after_bridge_failed, NULL);
	/* The reference to old is stolen by the join (released on return), the bridge's passed. */
	ast_bridge_join(bridge, chan, old, &features, NULL, AST_BRIDGE_JOIN_PASS_REFERENCE);
	ast_bridge_features_cleanup(&features);
	return 0;
}
