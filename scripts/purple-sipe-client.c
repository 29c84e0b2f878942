/*
 * A headless libpurple client driving Debian's pidgin-sipe 1.25 (protocol prpl-sipe,
 * unmodified) for the roaming interop test (Tests/EndToEndTests/SipeInteropTests.swift).
 *
 *   purple-sipe-client USERDIR USER@DOMAIN PASSWORD HOST PORT SECONDS [STEP...]
 *
 * Signs in over TCP through HOST:PORT (sipe's LCS 2003/2005 mode) and, once signed on, runs
 * each STEP two seconds apart, as a user would in Pidgin's windows:
 *   add:BUDDY:GROUP     add BUDDY (sip:...) to GROUP (sipe: addGroup for a new group, setContact)
 *   deny:BUDDY          block BUDDY (sipe: setACE ... BD)
 *   permit:BUDDY        allow BUDDY (sipe: setACE ... AA)
 *   alias:BUDDY:NAME    rename BUDDY (sipe: setContact with its display name)
 *   status:ID           set the account's status (available, away, busy, ...) (sipe: setPresence)
 * It prints one line per event, flushed at once:
 *   SIGNED-ON
 *   BUDDY <name> <group>
 *   STEP <step>         the step was handed to sipe
 *   DISCONNECTED <reason>
 * and exits after SECONDS. PURPLE_DEBUG=1 prints libpurple's debug log (sipe's wire) on stderr.
 * BUDDY lines come both from the steps and from the roaming list sipe reads from the server.
 *
 * Build (the export makes sure the libxml2 fix below is what libsipe.so calls):
 *   cc -o purple-sipe-client purple-sipe-client.c $(pkg-config --cflags --libs purple) \
 *      $(pkg-config --cflags libxml-2.0) -Wl,--export-dynamic-symbol=xmlSAXUserParseMemory
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <libxml/parser.h>
#include <purple.h>
#include <glib.h>
#include <glib-unix.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>

#define UI_ID "swift-sip-test"

typedef struct {
    PurpleInputFunction callback;
    gpointer data;
} Watch;

static gboolean watch_fired(GIOChannel *channel, GIOCondition condition, gpointer data) {
    Watch *watch = data;
    int purple_condition = 0;
    if (condition & (G_IO_IN | G_IO_HUP | G_IO_ERR)) purple_condition |= PURPLE_INPUT_READ;
    if (condition & (G_IO_OUT | G_IO_HUP | G_IO_ERR | G_IO_NVAL)) purple_condition |= PURPLE_INPUT_WRITE;
    watch->callback(watch->data, g_io_channel_unix_get_fd(channel), (PurpleInputCondition)purple_condition);
    return TRUE;
}

static guint input_add(gint fd, PurpleInputCondition condition, PurpleInputFunction callback, gpointer data) {
    Watch *watch = g_new0(Watch, 1);
    watch->callback = callback;
    watch->data = data;
    GIOCondition wanted = 0;
    if (condition & PURPLE_INPUT_READ) wanted |= G_IO_IN | G_IO_HUP | G_IO_ERR;
    if (condition & PURPLE_INPUT_WRITE) wanted |= G_IO_OUT | G_IO_HUP | G_IO_ERR | G_IO_NVAL;
    GIOChannel *channel = g_io_channel_unix_new(fd);
    guint id = g_io_add_watch_full(channel, G_PRIORITY_DEFAULT, wanted, watch_fired, watch, g_free);
    g_io_channel_unref(channel);
    return id;
}

/*
 * Debian 12's libxml2 (2.9.14+dfsg-1.3~deb12u5 and ~deb12u6 at least) ignores SAX1 element
 * callbacks: its xmlDetectSAX2 switches the parser to SAX2 whenever the handler's
 * `initialized` is XML_SAX2_MAGIC, without upstream's check that startElementNs or
 * endElementNs is set. Only startElementNs is then called. sipe's parser handler
 * (sipe-xml.c) has XML_SAX2_MAGIC but only SAX1 startElement/endElement, so sipe_xml_parse
 * returned NULL for every document. Upstream 2.9.14 parses such a handler with SAX1; this
 * wrapper restores that by handing libxml2 a copy marked SAX1 (initialized = 1: errors then
 * go to its `error` callback, which sipe also sets). Exported from this program, it takes
 * the place of libxml2's for libsipe.so; every other handler is passed through unchanged.
 */
int xmlSAXUserParseMemory(xmlSAXHandlerPtr sax, void *user_data, const char *buffer, int size) {
    static int (*libxml2_parse)(xmlSAXHandlerPtr, void *, const char *, int);
    if (!libxml2_parse)
        libxml2_parse = (int (*)(xmlSAXHandlerPtr, void *, const char *, int))dlsym(RTLD_NEXT, "xmlSAXUserParseMemory");
    if (sax && sax->initialized == XML_SAX2_MAGIC && !sax->startElementNs && !sax->endElementNs &&
        (sax->startElement || sax->endElement)) {
        xmlSAXHandler sax1 = *sax;
        sax1.initialized = 1;
        return libxml2_parse(&sax1, user_data, buffer, size);
    }
    return libxml2_parse(sax, user_data, buffer, size);
}

static PurpleEventLoopUiOps loop_ops = {
    g_timeout_add, g_source_remove, input_add, g_source_remove, NULL, g_timeout_add_seconds, NULL, NULL, NULL,
};

static PurpleCoreUiOps core_ops = { NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL };

static void say(const char *format, ...) {
    va_list args;
    va_start(args, format);
    vprintf(format, args);
    va_end(args);
    putchar('\n');
    fflush(stdout);
}

static PurpleAccount *account;
static char **steps;
static int step_count, next_step;

/* One step, as Pidgin's buddy-list and privacy windows do it. */
static gboolean run_step(gpointer unused) {
    if (next_step >= step_count) return FALSE;
    char *step = steps[next_step++];
    char **parts = g_strsplit(step, ":", 0);
    guint n = g_strv_length(parts);
    /* BUDDY is "sip:user@domain": rejoin the "sip" and the rest. */
    if (n >= 3 && strcmp(parts[0], "add") == 0) {
        gchar *buddy_name = g_strdup_printf("%s:%s", parts[1], parts[2]);
        const char *group_name = n >= 4 ? parts[3] : "Buddies";
        PurpleGroup *group = purple_find_group(group_name);
        if (!group) {
            group = purple_group_new(group_name);
            purple_blist_add_group(group, NULL);
        }
        PurpleBuddy *buddy = purple_buddy_new(account, buddy_name, NULL);
        purple_blist_add_buddy(buddy, NULL, group, NULL);
        purple_account_add_buddy(account, buddy);
        g_free(buddy_name);
    } else if (n >= 3 && strcmp(parts[0], "deny") == 0) {
        gchar *who = g_strdup_printf("%s:%s", parts[1], parts[2]);
        purple_privacy_deny(account, who, FALSE, FALSE);
        g_free(who);
    } else if (n >= 3 && strcmp(parts[0], "permit") == 0) {
        gchar *who = g_strdup_printf("%s:%s", parts[1], parts[2]);
        purple_privacy_allow(account, who, FALSE, FALSE);
        g_free(who);
    } else if (n >= 4 && strcmp(parts[0], "alias") == 0) {
        gchar *who = g_strdup_printf("%s:%s", parts[1], parts[2]);
        PurpleBuddy *buddy = purple_find_buddy(account, who);
        if (buddy) {
            purple_blist_alias_buddy(buddy, parts[3]);
            serv_alias_buddy(buddy);
        } else {
            say("NO-BUDDY %s", who);
        }
        g_free(who);
    } else if (n >= 2 && strcmp(parts[0], "status") == 0) {
        purple_account_set_status(account, parts[1], TRUE, NULL);
    } else {
        say("BAD-STEP %s", step);
    }
    say("STEP %s", step);
    g_strfreev(parts);
    return next_step < step_count;
}

static void signed_on(PurpleConnection *gc, gpointer unused) {
    say("SIGNED-ON");
    if (step_count > 0) g_timeout_add_seconds(2, run_step, NULL);
}

static void buddy_added(PurpleBuddy *buddy, gpointer unused) {
    PurpleGroup *group = purple_buddy_get_group(buddy);
    say("BUDDY %s %s", purple_buddy_get_name(buddy), group ? purple_group_get_name(group) : "-");
}

static void connection_error(PurpleConnection *gc, PurpleConnectionError error, const gchar *text, gpointer unused) {
    say("DISCONNECTED %s", text ? text : "?");
}

static gboolean stop(gpointer loop) {
    g_main_loop_quit(loop);
    return FALSE;
}

int main(int argc, char **argv) {
    if (argc < 7) {
        fprintf(stderr, "usage: %s USERDIR USER@DOMAIN PASSWORD HOST PORT SECONDS [STEP...]\n", argv[0]);
        return 2;
    }
    steps = argv + 7;
    step_count = argc - 7;
    GMainLoop *loop = g_main_loop_new(NULL, FALSE);
    purple_util_set_user_dir(argv[1]);
    purple_debug_set_enabled(getenv("PURPLE_DEBUG") != NULL);
    purple_core_set_ui_ops(&core_ops);
    purple_eventloop_set_ui_ops(&loop_ops);
    if (!purple_core_init(UI_ID)) {
        fprintf(stderr, "libpurple did not initialize\n");
        return 1;
    }
    purple_set_blist(purple_blist_new());
    purple_blist_load();
    purple_prefs_load();

    static int handle;
    purple_signal_connect(purple_connections_get_handle(), "signed-on", &handle, PURPLE_CALLBACK(signed_on), NULL);
    purple_signal_connect(purple_connections_get_handle(), "connection-error", &handle,
                          PURPLE_CALLBACK(connection_error), NULL);
    purple_signal_connect(purple_blist_get_handle(), "buddy-added", &handle, PURPLE_CALLBACK(buddy_added), NULL);

    if (!purple_find_prpl("prpl-sipe")) {
        fprintf(stderr, "prpl-sipe is not installed (apt-get install pidgin-sipe)\n");
        return 1;
    }
    account = purple_account_new(argv[2], "prpl-sipe");
    purple_account_set_password(account, argv[3]);
    gchar *server = g_strdup_printf("%s:%s", argv[4], argv[5]);
    purple_account_set_string(account, "server", server);
    purple_account_set_string(account, "transport", "tcp");
    purple_accounts_add(account);
    purple_account_set_enabled(account, UI_ID, TRUE);

    g_timeout_add_seconds((guint)atoi(argv[6]), stop, loop);
    g_unix_signal_add(SIGTERM, stop, loop);
    g_main_loop_run(loop);
    purple_core_quit();
    g_free(server);
    return 0;
}
