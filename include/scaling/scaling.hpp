#pragma once
// Umbrella header: everything a user of scaling needs.
