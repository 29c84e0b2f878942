print("sipctl: not built yet")
