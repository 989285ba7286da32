GREETING = "hello from tenant b's helper"
