/* The module's sorcery object types: see sorcery_types.h. Objects carry no destructor of ours
 * (their fields live in sorcery's own extended-field list), so an object outliving the module
 * never calls into unloaded code. */
#include <asterisk.h>
#include <asterisk/astobj2.h>
#include <asterisk/sorcery.h>
#include <asterisk/res_pjsip.h>
#include <asterisk/utils.h>

#include "sorcery_types.h"


struct multireg_sorcery_object {
	SORCERY_OBJECT(details);
};

static const struct {
	const char *type;
	const char *wizard;
	const char *data;
} our_types[] = {
	{ "multireg", "config", "pjsip.conf,criteria=type=multireg" },
	{ "multireg_ringmode", "astdb", "multireg" },
	{ "multireg_push", "astdb", "multireg" },
	{ "multireg_logout", "astdb", "multireg" },
};

static void *object_alloc(const char *name)
{
	return ast_sorcery_generic_alloc(sizeof(struct multireg_sorcery_object), NULL);
}

/* Every option is kept as given (the module validates it with its own parser). */
static int any_field(const struct aco_option *opt, struct ast_variable *var, void *obj)
{
	return ast_sorcery_object_set_extended(obj, var->name, var->value);
}

/* Sorcery's own "^@" handler already lists the extended fields. */
static int no_more_fields(const void *obj, struct ast_variable **fields)
{
	*fields = NULL;
	return 0;
}

int multireg_shim_register_sorcery_types(void)
{
	struct ast_sorcery *sorcery = ast_sip_get_sorcery();
	size_t i;

	if (ast_sorcery_apply_config(sorcery, "res_pjsip_multireg") == AST_SORCERY_APPLY_FAIL) {
		ast_log(LOG_ERROR, "sorcery.conf section [res_pjsip_multireg] could not be applied\n");
	}
	for (i = 0; i < ARRAY_LEN(our_types); i++) {
		ast_sorcery_apply_default(sorcery, our_types[i].type, our_types[i].wizard, our_types[i].data);
		/* Hidden: the type needs no XML documentation to load (options are ours to document). */
		if (__ast_sorcery_object_register(sorcery, our_types[i].type, 1, 1, object_alloc, NULL, NULL)
			|| ast_sorcery_object_fields_register(sorcery, our_types[i].type, "^", any_field, no_more_fields)) {
			ast_sorcery_object_unregister(sorcery, our_types[i].type);
			while (i-- > 0) {
				ast_sorcery_object_unregister(sorcery, our_types[i].type);
			}
			return -1;
		}
	}
	for (i = 0; i < ARRAY_LEN(our_types); i++) {
		ast_sorcery_load_object(sorcery, our_types[i].type);
	}
	return 0;
}

void multireg_shim_unregister_sorcery_types(void)
{
	size_t i;

	for (i = 0; i < ARRAY_LEN(our_types); i++) {
		ast_sorcery_object_unregister(ast_sip_get_sorcery(), our_types[i].type);
	}
}

/* Every object of `type`, from each wizard mapped to it in order (the first object of an id
 * wins, as in ast_sorcery_retrieve_by_fields). Sorcery's own "retrieve all" collects into a list
 * kept sorted by id, so 10,000 objects cost some 25 million comparisons; this container is hashed
 * and the caller sorts once. */
struct ao2_container *multireg_shim_sorcery_all(const char *type)
{
	struct ast_sorcery *sorcery = ast_sip_get_sorcery();
	struct ao2_container *objects;
	struct ast_sorcery_wizard *wizard;
	void *data;
	int index;

	objects = ao2_container_alloc_hash(AO2_ALLOC_OPT_LOCK_NOLOCK, AO2_CONTAINER_ALLOC_OPT_DUPS_REJECT, 4093,
		ast_sorcery_object_id_hash, NULL, ast_sorcery_object_id_compare);
	if (!objects) {
		return NULL;
	}
	for (index = 0; !ast_sorcery_get_wizard_mapping(sorcery, type, index, &wizard, &data); index++) {
		if (wizard->retrieve_multiple) {
			wizard->retrieve_multiple(sorcery, data, type, objects, NULL);
		}
		/* The mapping lookup took a reference to the wizard (callbacks are its first member). */
		ao2_ref(wizard, -1);
	}
	return objects;
}

struct ao2_container *multireg_shim_sorcery_find(const char *type, const char *field, const char *value)
{
	struct ast_variable *fields = ast_variable_new(field, value, "");
	struct ao2_container *found;

	if (!fields) {
		return NULL;
	}
	found = ast_sorcery_retrieve_by_fields(ast_sip_get_sorcery(), type, AST_RETRIEVE_FLAG_MULTIPLE, fields);
	ast_variables_destroy(fields);
	return found;
}

int multireg_shim_sorcery_delete(const char *type, const char *id)
{
	struct ast_sorcery *sorcery = ast_sip_get_sorcery();
	void *object = ast_sorcery_retrieve_by_id(sorcery, type, id);
	int res;

	if (!object) {
		/* Already gone (another node, or never stored). */
		return 0;
	}
	res = ast_sorcery_delete(sorcery, object);
	ao2_ref(object, -1);
	return res;
}

int multireg_shim_sorcery_put(const char *type, const char *id, const char *const *names, const char *const *values, int count)
{
	struct ast_sorcery *sorcery = ast_sip_get_sorcery();
	struct ast_variable *vars = NULL, *var;
	void *object, *existing;
	int i, res = -1;

	for (i = count - 1; i >= 0; i--) {
		var = ast_variable_new(names[i], values[i], "");
		if (!var) {
			ast_variables_destroy(vars);
			return -1;
		}
		var->next = vars;
		vars = var;
	}
	object = ast_sorcery_alloc(sorcery, type, id);
	if (object && !ast_sorcery_objectset_apply(sorcery, object, vars)) {
		existing = ast_sorcery_retrieve_by_id(sorcery, type, id);
		res = existing ? ast_sorcery_update(sorcery, object) : ast_sorcery_create(sorcery, object);
		if (res && existing) {
			/* Another node may have deleted it meanwhile. */
			res = ast_sorcery_create(sorcery, object);
		} else if (res && !existing) {
			/* Another node may have created it meanwhile. */
			res = ast_sorcery_update(sorcery, object);
		}
		ao2_cleanup(existing);
	}
	ao2_cleanup(object);
	ast_variables_destroy(vars);
	return res;
}

int multireg_shim_sorcery_is_local(const char *type)
{
	static const char *local[] = { "config", "memory", "memory_cache", "astdb" };
	struct ast_sorcery *sorcery = ast_sip_get_sorcery();
	int count = ast_sorcery_get_wizard_mapping_count(sorcery, type);
	int i;
	size_t j;

	if (count < 0) {
		return 0;
	}
	for (i = 0; i < count; i++) {
		struct ast_sorcery_wizard *wizard = NULL;
		void *data = NULL;
		int found = 0;

		if (ast_sorcery_get_wizard_mapping(sorcery, type, i, &wizard, &data)) {
			return 0;
		}
		for (j = 0; j < ARRAY_LEN(local); j++) {
			found |= !strcmp(wizard->name, local[j]);
		}
		ao2_cleanup(wizard);
		if (!found) {
			return 0;
		}
	}
	return 1;
}
