/* Stasis observers that cost the publishing thread one function call instead of a hop to a
 * worker thread: PJSIP security events, device state changes of PJSIP/ devices (busy lamp), and
 * app_queue's QueueMemberAdded.
 *
 * Why not plain subscriptions: a subscription with a mailbox queues every message it accepts to a
 * thread (a taskpool push and a wake-up). The security topic carries two events per authenticated
 * REGISTER (challenge sent, success), and QueueMemberAdded travels on the manager topic, which also
 * carries every security, device state, contact status and test event of the PBX, under a message
 * type private to app_queue.c that no filter can name. Measured with 10,000 contacts, those hops
 * cost the module 5-20 % of Asterisk's REGISTER throughput.
 *
 * Stasis delivers without a mailbox only to subscriptions created without one. Asterisk 22.11
 * offers stasis_subscribe_synchronous(); before it the only public one is a caching topic's own
 * subscription: its cache asks the id callback about every message, in the publishing thread,
 * while the topic is locked (so callbacks of one observer never overlap, and unsubscribing waits
 * for a callback in progress). The observers below are such id callbacks. They look at the
 * message, record it in memory or hand it to the module's own serializer, and always answer
 * NULL, so nothing is ever cached or republished. They take no lock of their own and never
 * publish. */
#include <asterisk.h>
#include <asterisk/astobj2.h>
#include <asterisk/devicestate.h>
#include <asterisk/json.h>
#include <asterisk/security_events.h>
#include <asterisk/manager.h>
#include <asterisk/stasis.h>
#include <asterisk/strings.h>
#include <asterisk/taskprocessor.h>
#include <asterisk/utils.h>

#include "shim.h"

/* Implemented in Rust (src/asterisk/entry.rs); each is panic-guarded there. */
extern int multireg_wants_auth_event(int outcome);
extern void multireg_on_auth_event(int outcome, const char *account, const char *address, const char *challenge);
extern void multireg_on_device_state(const char *device);
extern void multireg_on_queue_member_added(const char *queue, const char *interface, const char *state_interface);

struct observer {
	struct stasis_cache *cache;
	struct stasis_caching_topic *topic;
};

static int observe(struct observer *observer, struct stasis_topic *topic, snapshot_get_id callback)
{
	if (!topic) {
		return -1;
	}
	observer->cache = stasis_cache_create(callback);
	if (!observer->cache) {
		return -1;
	}
	observer->topic = stasis_caching_topic_create(topic, observer->cache);
	if (!observer->topic) {
		ao2_cleanup(observer->cache);
		observer->cache = NULL;
		return -1;
	}
	return 0;
}

/* As observe(), shown only messages of `type` (none when the type is not registered). */
static int observe_type(struct observer *observer, struct stasis_topic *topic, snapshot_get_id callback,
	struct stasis_message_type *type)
{
	if (!type || observe(observer, topic, callback)) {
		return -1;
	}
	stasis_caching_accept_message_type(observer->topic, type);
	stasis_caching_set_filter(observer->topic, STASIS_SUBSCRIPTION_FILTER_SELECTIVE);
	return 0;
}

/* After this returns the callback never runs again (unsubscribing takes the topic's lock). */
static void stop_observing(struct observer *observer)
{
	observer->topic = stasis_caching_unsubscribe_and_join(observer->topic);
	ao2_cleanup(observer->cache);
	observer->cache = NULL;
}

static const char *json_text(struct ast_json *json, const char *key)
{
	const char *text = ast_json_string_get(ast_json_object_get(json, key));

	return text ? text : "";
}

/* ---- security events: counted in memory by the module, right here ---- */
static struct observer security_observer;

/* An outcome the module counts: read its fields (out of line, so the check every event gets stays
 * short). */
static void __attribute__((cold, noinline)) auth_event_seen(struct ast_json *json, int outcome, const char *challenge_key)
{
	if (strcasecmp(json_text(json, "Service"), "PJSIP")) {
		return;
	}
	multireg_on_auth_event(outcome, json_text(json, "AccountID"), json_text(json, "RemoteAddress"),
		challenge_key ? json_text(json, challenge_key) : "");
}

static const char *security_event_seen(struct stasis_message *message)
{
	struct ast_json_payload *payload;
	struct ast_json *json;
	const char *challenge_key;
	int outcome;

	if (stasis_message_type(message) != ast_security_event_type()) {
		return NULL;
	}
	payload = stasis_message_data(message);
	if (!payload || !(json = payload->json)) {
		return NULL;
	}
	/* The kind first: a challenge sent (one per registration) ends here, and a success (another)
	 * is read only when the module has failures to forgive. */
	switch (ast_json_integer_get(ast_json_object_get(json, "SecurityEvent"))) {
	case AST_SECURITY_EVENT_CHAL_RESP_FAILED:
		outcome = MULTIREG_AUTH_FAILED;
		challenge_key = "Challenge";
		break;
	case AST_SECURITY_EVENT_INVAL_PASSWORD:
		outcome = MULTIREG_AUTH_FAILED;
		challenge_key = "ReceivedChallenge";
		break;
	case AST_SECURITY_EVENT_SUCCESSFUL_AUTH:
		outcome = MULTIREG_AUTH_SUCCEEDED;
		challenge_key = NULL;
		break;
	default:
		return NULL;
	}
	if (multireg_wants_auth_event(outcome)) {
		auth_event_seen(json, outcome, challenge_key);
	}
	return NULL;
}

int multireg_shim_subscribe_security(void)
{
	return observe_type(&security_observer, ast_security_topic(), security_event_seen, ast_security_event_type());
}

void multireg_shim_unsubscribe_security(void)
{
	stop_observing(&security_observer);
}

/* ---- device states: a PJSIP/ device's aggregate state changed (busy lamp) ----
 * Each change reaches the all-devices topic twice: the server's own state, then the aggregate the
 * cache computed from it (only when that differs). ast_device_state() answers the aggregate, so
 * that is the one to act on; the module then queues Multireg:<extension> to Asterisk's device
 * state thread (ast_devstate_changed never publishes in the caller's thread while that thread
 * runs). */
static struct observer device_state_observer;

static const char *device_state_seen(struct stasis_message *message)
{
	struct ast_device_state_message *state;

	if (stasis_message_type(message) != ast_device_state_message_type()) {
		return NULL;
	}
	state = stasis_message_data(message);
	if (!state || state->eid || !state->device || strncasecmp(state->device, "PJSIP/", 6)) {
		return NULL;
	}
	multireg_on_device_state(state->device);
	return NULL;
}

int multireg_shim_observe_device_states(void)
{
	return observe_type(&device_state_observer, ast_device_state_topic_all(), device_state_seen,
		ast_device_state_message_type());
}

void multireg_shim_stop_observing_device_states(void)
{
	stop_observing(&device_state_observer);
}

/* ---- QueueMemberAdded: recognised by its type's name, handled on the module's serializer ----
 * The addition is published while app_queue holds the queue, so the module's handling (which asks
 * app_queue for the queue's members) runs later, on that serializer. */
#define QUEUE_MEMBER_ADDED_TYPE "queue_member_added_type"

static struct observer queue_observer;
static struct ast_taskprocessor *queue_worker;

struct queue_addition {
	char *queue;
	char *interface;
	char *state_interface;
	char text[0];
};

static int handle_queue_addition(void *data)
{
	struct queue_addition *addition = data;

	multireg_on_queue_member_added(addition->queue, addition->interface, addition->state_interface);
	ast_free(addition);
	return 0;
}

/* Message types already found not to be QueueMemberAdded. The manager topic carries a few types
 * over and over (several per REGISTER: security events, contact and device states), and the name
 * check would call into cold code each time. Each type is held by a reference, so its address is
 * never reused by another type while it is listed here. Written only by this observer, whose
 * callbacks never overlap (see the top of this file); cleared when it stops. */
#define OTHER_TYPES 32
static struct stasis_message_type *other_types[OTHER_TYPES];
static int other_type_count;

/* A type not listed yet: QueueMemberAdded, or another type to list. Out of line and cold, so the
 * check every manager message gets (below) stays in a cache line or two. */
static int __attribute__((cold, noinline)) is_queue_member_added_new_type(struct stasis_message_type *type)
{
	const char *name = stasis_message_type_name(type);

	if (name && !strcmp(name, QUEUE_MEMBER_ADDED_TYPE)) {
		return 1;
	}
	if (other_type_count < OTHER_TYPES) {
		ao2_ref(type, +1);
		other_types[other_type_count++] = type;
	}
	return 0;
}

static inline int is_queue_member_added(struct stasis_message_type *type)
{
	int i;

	if (!type) {
		return 0;
	}
	for (i = 0; i < other_type_count; i++) {
		if (other_types[i] == type) {
			return 0;
		}
	}
	return is_queue_member_added_new_type(type);
}

static void forget_other_types(void)
{
	while (other_type_count > 0) {
		ao2_ref(other_types[--other_type_count], -1);
		other_types[other_type_count] = NULL;
	}
}

/* A QueueMemberAdded: its fields go to the module's serializer. */
static void __attribute__((cold, noinline)) queue_member_added_seen(struct stasis_message *message)
{
	struct ast_json_payload *payload;
	struct queue_addition *addition;
	const char *queue, *interface, *state_interface;
	size_t queue_size, interface_size, state_size;

	payload = stasis_message_data(message);
	if (!payload || !payload->json) {
		return;
	}
	queue = json_text(payload->json, "Queue");
	interface = json_text(payload->json, "Interface");
	state_interface = json_text(payload->json, "StateInterface");
	queue_size = strlen(queue) + 1;
	interface_size = strlen(interface) + 1;
	state_size = strlen(state_interface) + 1;
	addition = ast_malloc(sizeof(*addition) + queue_size + interface_size + state_size);
	if (!addition) {
		return;
	}
	addition->queue = addition->text;
	addition->interface = addition->queue + queue_size;
	addition->state_interface = addition->interface + interface_size;
	memcpy(addition->queue, queue, queue_size);
	memcpy(addition->interface, interface, interface_size);
	memcpy(addition->state_interface, state_interface, state_size);
	if (ast_taskprocessor_push(queue_worker, handle_queue_addition, addition)) {
		ast_free(addition);
	}
}

static const char *queue_message_seen(struct stasis_message *message)
{
	if (is_queue_member_added(stasis_message_type(message))) {
		queue_member_added_seen(message);
	}
	return NULL;
}

int multireg_shim_subscribe_queues(void)
{
	queue_worker = multireg_shim_pool_serializer("multireg/queue-members");
	if (!queue_worker) {
		return -1;
	}
	if (observe(&queue_observer, ast_manager_get_topic(), queue_message_seen)) {
		multireg_shim_end_serializer(&queue_worker);
		return -1;
	}
	return 0;
}

void multireg_shim_unsubscribe_queues(void)
{
	stop_observing(&queue_observer);
	/* No callback runs any more. */
	forget_other_types();
	/* Waits for the additions still queued. */
	multireg_shim_end_serializer(&queue_worker);
}
