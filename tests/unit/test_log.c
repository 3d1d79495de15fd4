/* test_log.c: the structured logger (node/log.c): one line per event with time, level, node, site,
 * term and event first; string values quoted and escaped only when needed; the JSON format is one
 * valid JSON object per line with the same keys and typed values; journal mode drops the time and
 * starts with the syslog priority; a rate-limited call site emits once per second and reports how
 * many lines it suppressed; nothing is written below the enabled level. stderr is captured in a
 * temporary file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

static uint64_t term_7(void *data)
{
	(void)data;
	return 7;
}

static FILE *capture;
static int saved_fd;

/* Redirects stderr to a fresh temporary file. */
static void capture_start(void)
{
	fflush(stderr);
	capture = tmpfile();
	assert_non_null(capture);
	saved_fd = dup(STDERR_FILENO);
	assert_true(dup2(fileno(capture), STDERR_FILENO) >= 0);
}

/* Restores stderr; returns what was written (malloc'd). */
static char *capture_end(void)
{
	long len;
	char *buf;

	assert_true(dup2(saved_fd, STDERR_FILENO) >= 0);
	close(saved_fd);
	len = ftell(capture);
	buf = calloc(1, (size_t)len + 1);
	rewind(capture);
	assert_int_equal(fread(buf, 1, (size_t)len, capture), (size_t)len);
	fclose(capture);
	return buf;
}

static int setup(void **state)
{
	(void)state;
	log_init("tehran", 3, term_7, NULL);
	log_set_journal(0);
	log_set_format(LOG_FORMAT_TEXT);
	log_level_enabled = LOG_INFO;
	return 0;
}

static void text_line_has_fixed_keys_then_fields(void **state)
{
	char *out;

	(void)state;
	capture_start();
	LOG_EVENT(LOG_WARN, "site_lost",
		  LOG_FIELDS(LOG_S("subject_site", "shiraz"), LOG_U("index", 8812),
			     LOG_S("evidence", "nodes 8000 ms \"ago\"")),
		  "site '%s' lost", "shiraz");
	out = capture_end();
	assert_int_equal(strncmp(out, "time=20", 7), 0);
	assert_non_null(strstr(out, "Z level=warn node=3 site=tehran term=7 event=site_lost "
				    "subject_site=shiraz index=8812 evidence=\"nodes 8000 ms \\\"ago\\\"\" "
				    "msg=\"site 'shiraz' lost\"\n"));
	assert_int_equal(strchr(out, '\n')[1], '\0'); /* one line */
	free(out);
}

static void legacy_calls_are_event_log(void **state)
{
	char *out;

	(void)state;
	capture_start();
	LOG_INFO_("snapshot at index %d", 42);
	LOG_DEBUG_("not enabled: %d", 1);
	out = capture_end();
	assert_non_null(strstr(out, " event=log msg=\"snapshot at index 42\"\n"));
	assert_null(strstr(out, "not enabled"));
	free(out);
}

static void json_line_is_one_object_with_typed_values(void **state)
{
	json_object *o, *v;
	char *out;

	(void)state;
	log_set_format(LOG_FORMAT_JSON);
	capture_start();
	LOG_EVENT(LOG_INFO, "leader_change", LOG_FIELDS(LOG_U("leader", 2), LOG_S("why", "a\nb")),
		  "leader is now %d", 2);
	out = capture_end();
	log_set_format(LOG_FORMAT_TEXT);
	assert_int_equal(strchr(out, '\n')[1], '\0');
	o = json_tokener_parse(out);
	assert_non_null(o);
	assert_true(json_object_object_get_ex(o, "time", &v));
	assert_true(json_object_object_get_ex(o, "level", &v));
	assert_string_equal(json_object_get_string(v), "info");
	assert_true(json_object_object_get_ex(o, "node", &v) && json_object_get_int64(v) == 3);
	assert_true(json_object_object_get_ex(o, "site", &v));
	assert_string_equal(json_object_get_string(v), "tehran");
	assert_true(json_object_object_get_ex(o, "term", &v) && json_object_get_int64(v) == 7);
	assert_true(json_object_object_get_ex(o, "event", &v));
	assert_string_equal(json_object_get_string(v), "leader_change");
	assert_true(json_object_object_get_ex(o, "leader", &v) &&
		    json_object_is_type(v, json_type_int) && json_object_get_int64(v) == 2);
	assert_true(json_object_object_get_ex(o, "why", &v));
	assert_string_equal(json_object_get_string(v), "a\nb");
	assert_true(json_object_object_get_ex(o, "msg", &v));
	assert_string_equal(json_object_get_string(v), "leader is now 2");
	json_object_put(o);
	free(out);
}

static void journal_mode_has_priority_and_no_time(void **state)
{
	char *out;

	(void)state;
	log_set_journal(1);
	capture_start();
	LOG_EVENT(LOG_ERROR, "fatal", LOG_NO_FIELDS, "disk");
	out = capture_end();
	log_set_journal(0);
	assert_int_equal(strncmp(out, "<3>level=error node=3 ", 22), 0);
	assert_null(strstr(out, "time="));
	free(out);
}

static void journal_detection_needs_matching_stream(void **state)
{
	char *out;

	(void)state;
	setenv("JOURNAL_STREAM", "1:2", 1); /* not stderr's device and inode */
	log_set_journal(-1);
	capture_start();
	LOG_EVENT(LOG_INFO, "x", LOG_NO_FIELDS, "y");
	out = capture_end();
	unsetenv("JOURNAL_STREAM");
	log_set_journal(0);
	assert_int_equal(strncmp(out, "time=", 5), 0);
	free(out);
}

static void rate_limited_site_reports_suppressed(void **state)
{
	char *out, *second;

	(void)state;
	capture_start();
	for (int round = 0; round < 2; round++) {
		for (int i = 0; i < 5; i++)
			LOG_EVENT_RATELIMITED(LOG_WARN, "refusal", LOG_FIELDS(LOG_S("reason", "test")),
					      "refused %d", i);
		if (round == 0) {
			int64_t s = (int64_t)time(NULL);
			while ((int64_t)time(NULL) == s)
				usleep(20000);
		}
	}
	out = capture_end();
	/* First second: the first line only; the next second's first line counts the 4 dropped. */
	assert_non_null(strstr(out, "event=refusal reason=test msg=\"refused 0\"\n"));
	second = strstr(out, "suppressed=4 msg=\"refused 0\"\n");
	assert_non_null(second);
	assert_int_equal(second[strlen("suppressed=4 msg=\"refused 0\"\n")], '\0');
	free(out);
}

static void formats_parse(void **state)
{
	enum log_format f;

	(void)state;
	assert_int_equal(log_format_parse("json", &f), 0);
	assert_int_equal(f, LOG_FORMAT_JSON);
	assert_int_equal(log_format_parse("text", &f), 0);
	assert_int_equal(f, LOG_FORMAT_TEXT);
	assert_int_equal(log_format_parse("xml", &f), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(text_line_has_fixed_keys_then_fields, setup),
		cmocka_unit_test_setup(legacy_calls_are_event_log, setup),
		cmocka_unit_test_setup(json_line_is_one_object_with_typed_values, setup),
		cmocka_unit_test_setup(journal_mode_has_priority_and_no_time, setup),
		cmocka_unit_test_setup(journal_detection_needs_matching_stream, setup),
		cmocka_unit_test_setup(rate_limited_site_reports_suppressed, setup),
		cmocka_unit_test_setup(formats_parse, setup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
