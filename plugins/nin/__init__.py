"""The nin plugin: Network in Network (Lin, Chen & Yan), the CIFAR-10 net."""
