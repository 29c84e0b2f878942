/*
 * A headless libpurple client (Debian's libpurple0, its SIMPLE protocol plugin, unmodified)
 * for the roaming-contacts interop test (Tests/EndToEndTests/PurpleInteropTests.swift).
 *
 *   purple-simple-client USERDIR USER@DOMAIN PASSWORD HOST PORT SECONDS [BUDDY]
 *
 * Signs in over TCP through HOST:PORT and prints one line per event, flushed at once:
 *   SIGNED-ON
 *   BUDDY <name> <group>        a buddy appeared in the buddy list (the roaming list)
 *   STATUS <name> <online|offline>
 *   DISCONNECTED <reason>
 *   IM <sender> <text>          an instant message arrived
 *   SENT <buddy>                with BUDDY: when BUDDY comes online, "hello from pidgin" was sent
 * then exits after SECONDS.
 *
 * Build: cc -o purple-simple-client purple-simple-client.c $(pkg-config --cflags --libs purple)
 */
#include <purple.h>
#include <glib.h>
#include <glib-unix.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>

#define UI_ID "swift-sip-test"

/* libpurple's event loop on GLib's: file descriptors become GIOChannel watches. */
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

static void signed_on(PurpleConnection *gc, gpointer unused) { say("SIGNED-ON"); }

static void buddy_added(PurpleBuddy *buddy, gpointer unused) {
    PurpleGroup *group = purple_buddy_get_group(buddy);
    say("BUDDY %s %s", purple_buddy_get_name(buddy), group ? purple_group_get_name(group) : "-");
}

static void status_changed(PurpleBuddy *buddy, PurpleStatus *old, PurpleStatus *now, gpointer unused) {
    say("STATUS %s %s", purple_buddy_get_name(buddy), purple_status_is_online(now) ? "online" : "offline");
}

/* libpurple reports a buddy coming online or going offline as signed-on / signed-off, and
 * other changes as status-changed. */
static const char *im_target = NULL;

static void buddy_signed_on(PurpleBuddy *buddy, gpointer unused) {
    say("STATUS %s online", purple_buddy_get_name(buddy));
    if (im_target && strcmp(im_target, purple_buddy_get_name(buddy)) == 0) {
        serv_send_im(purple_account_get_connection(purple_buddy_get_account(buddy)), im_target, "hello from pidgin", 0);
        say("SENT %s", im_target);
    }
}

static void received_im(PurpleAccount *account, char *sender, char *message, PurpleConversation *conv,
                        PurpleMessageFlags flags, gpointer unused) {
    say("IM %s %s", sender, message);
}
static void buddy_signed_off(PurpleBuddy *buddy, gpointer unused) { say("STATUS %s offline", purple_buddy_get_name(buddy)); }

static void connection_error(PurpleConnection *gc, PurpleConnectionError error, const gchar *text, gpointer unused) {
    say("DISCONNECTED %s", text ? text : "?");
}

static gboolean stop(gpointer loop) {
    g_main_loop_quit(loop);
    return FALSE;
}

int main(int argc, char **argv) {
    if (argc != 7 && argc != 8) {
        fprintf(stderr, "usage: %s USERDIR USER@DOMAIN PASSWORD HOST PORT SECONDS [BUDDY]\n", argv[0]);
        return 2;
    }
    if (argc == 8) im_target = argv[7];
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
    purple_signal_connect(purple_blist_get_handle(), "buddy-status-changed", &handle,
                          PURPLE_CALLBACK(status_changed), NULL);
    purple_signal_connect(purple_blist_get_handle(), "buddy-signed-on", &handle, PURPLE_CALLBACK(buddy_signed_on), NULL);
    purple_signal_connect(purple_blist_get_handle(), "buddy-signed-off", &handle, PURPLE_CALLBACK(buddy_signed_off), NULL);
    purple_signal_connect(purple_conversations_get_handle(), "received-im-msg", &handle, PURPLE_CALLBACK(received_im), NULL);

    PurpleAccount *account = purple_account_new(argv[2], "prpl-simple");
    purple_account_set_password(account, argv[3]);
    purple_account_set_bool(account, "useproxy", TRUE);
    purple_account_set_string(account, "proxy", argv[4]);
    purple_account_set_int(account, "port", atoi(argv[5]));
    purple_account_set_bool(account, "udp", FALSE);
    /* No PUBLISH at sign-in: libpurple handles one SIP message per TCP read, so two answers
     * arriving together (PUBLISH's and SUBSCRIBE's) would leave the second unread. */
    purple_account_set_bool(account, "dopublish", FALSE);
    purple_accounts_add(account);
    purple_account_set_enabled(account, UI_ID, TRUE);

    g_timeout_add_seconds((guint)atoi(argv[6]), stop, loop);
    g_unix_signal_add(SIGTERM, stop, loop);
    g_main_loop_run(loop);
    purple_core_quit();
    return 0;
}
