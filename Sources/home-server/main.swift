print("home-server: not built yet")
