"""Editor plug-ins for the bridge (Krita, GIMP 3, Photoshop UXP, Photopea) and their bundler."""
