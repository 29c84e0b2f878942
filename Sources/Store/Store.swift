/// Store: the directory of users and the location bindings, on GRDB and the system SQLite.
public enum StoreModule {}
